package model

import (
	"fmt"
	"sort"
	"strings"
)

// Ref names one metallb.io (or core) object by kind and name; all of them live in one namespace.
type Ref struct {
	Kind string
	Name string
}

func (r Ref) String() string { return r.Kind + " " + r.Name }

// Problem is one thing wrong with the configuration. Cross-object problems name the other object too,
// so an operator can fix either side.
type Problem struct {
	Object  Ref
	Field   string
	Message string
	Other   *Ref
	// Waits marks a problem that creating or fixing Other resolves: a reference to an object that
	// does not exist yet, or a Secret not in the expected shape. Admission lets such an object in, as
	// MetalLB does, so manifests apply in any order; it takes effect once Other is there.
	Waits bool
}

func (p Problem) Error() string {
	s := p.Object.String()
	if p.Field != "" {
		s += ": " + p.Field
	}
	s += ": " + p.Message
	if p.Other != nil {
		s += " (" + p.Other.String() + ")"
	}
	return s
}

// Problems is every problem found, in a stable order.
type Problems []Problem

func (ps Problems) Error() string {
	msgs := make([]string, len(ps))
	for i, p := range ps {
		msgs[i] = p.Error()
	}
	return strings.Join(msgs, "\n")
}

// For returns the problems of one object, including those where it is the other side.
func (ps Problems) For(r Ref) Problems {
	var out Problems
	for _, p := range ps {
		if p.Object == r || (p.Other != nil && *p.Other == r) {
			out = append(out, p)
		}
	}
	return out
}

// Has reports whether an object has a problem of its own (not merely being named by another's).
func (ps Problems) Has(r Ref) bool {
	for _, p := range ps {
		if p.Object == r {
			return true
		}
	}
	return false
}

// Blocking returns the problems admission refuses: every one but those that wait for another object.
func (ps Problems) Blocking() Problems {
	var out Problems
	for _, p := range ps {
		if !p.Waits {
			out = append(out, p)
		}
	}
	return out
}

// Waiting reports whether every problem waits for another object.
func (ps Problems) Waiting() bool {
	for _, p := range ps {
		if !p.Waits {
			return false
		}
	}
	return len(ps) > 0
}

// blockingSince reports whether a problem that does not wait was added after the first n.
func (ps Problems) blockingSince(n int) bool {
	return len(ps[n:].Blocking()) > 0
}

func (ps *Problems) addWaiting(obj Ref, field string, other Ref, format string, args ...any) {
	*ps = append(*ps, Problem{Object: obj, Field: field, Message: fmt.Sprintf(format, args...), Other: &other, Waits: true})
}

func (ps *Problems) add(obj Ref, field, format string, args ...any) {
	*ps = append(*ps, Problem{Object: obj, Field: field, Message: fmt.Sprintf(format, args...)})
}

func (ps *Problems) addCross(obj Ref, field string, other Ref, format string, args ...any) {
	*ps = append(*ps, Problem{Object: obj, Field: field, Message: fmt.Sprintf(format, args...), Other: &other})
}

func (ps Problems) sorted() Problems {
	sort.SliceStable(ps, func(i, j int) bool {
		if ps[i].Object != ps[j].Object {
			return ps[i].Object.String() < ps[j].Object.String()
		}
		return ps[i].Field < ps[j].Field
	})
	return ps
}
