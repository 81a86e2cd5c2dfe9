package model

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"unicode"

	"github.com/go-playground/validator/v10"
)

// The model checks every field again, as the CRD's CEL rules do, because `routelb render` reads files
// that never went through an API server, and because a template must never see an unchecked string.
var validate = newValidator()

func newValidator() *validator.Validate {
	v := validator.New(validator.WithRequiredStructEnabled())
	must(v.RegisterValidation("token", func(fl validator.FieldLevel) bool {
		return !strings.ContainsFunc(fl.Field().String(), unicode.IsSpace)
	}))
	must(v.RegisterValidation("community", func(fl validator.FieldLevel) bool {
		_, err := ParseCommunity(fl.Field().String())
		return err == nil
	}))
	must(v.RegisterValidation("dnslabel", func(fl validator.FieldLevel) bool {
		return validName(fl.Field().String())
	}))
	return v
}

func must(err error) {
	if err != nil {
		panic(err)
	}
}

// check is one field rule in validator/v10's tag language.
type check struct {
	field string
	value any
	tag   string
	msg   string
}

// secretFields are never quoted in a problem: the message becomes a condition, an event and a
// log line, which far more people and tools read than the Secret or the BGPPeer.
var secretFields = map[string]bool{"spec.password": true}

func runChecks(ps *Problems, obj Ref, checks []check) {
	for _, c := range checks {
		if err := validate.Var(c.value, c.tag); err != nil {
			if secretFields[c.field] {
				ps.add(obj, c.field, "%s", c.msg)
				continue
			}
			ps.add(obj, c.field, "%s (got %q)", c.msg, fmt.Sprint(c.value))
		}
	}
}

func validName(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for i, r := range s {
		alnum := (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9')
		if !alnum && (r != '-' && r != '.' || i == 0 || i == len(s)-1) {
			return false
		}
	}
	return true
}

// ParsePoolAddress reads a pool entry: a CIDR, or an inclusive range "first-last" of one family.
func ParsePoolAddress(s string) (Range, *netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(strings.TrimSpace(s))
		if err != nil {
			return Range{}, nil, fmt.Errorf("invalid CIDR %q: %w", s, err)
		}
		p = p.Masked()
		return Range{First: p.Addr(), Last: lastAddr(p)}, &p, nil
	}
	first, last, ok := strings.Cut(s, "-")
	if !ok {
		return Range{}, nil, fmt.Errorf("%q is neither a CIDR nor a range first-last", s)
	}
	a, errA := netip.ParseAddr(strings.TrimSpace(first))
	b, errB := netip.ParseAddr(strings.TrimSpace(last))
	switch {
	case errA != nil || errB != nil:
		return Range{}, nil, fmt.Errorf("invalid range %q: both ends must be IP addresses", s)
	case a.Is4() != b.Is4():
		return Range{}, nil, fmt.Errorf("invalid range %q: both ends must be of the same IP family", s)
	case b.Less(a):
		return Range{}, nil, fmt.Errorf("invalid range %q: it ends before it starts", s)
	}
	return Range{First: a, Last: b}, nil, nil
}

func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Addr().AsSlice()
	for i := range b {
		hostBits := min(max(p.Addr().BitLen()-p.Bits()-8*(len(b)-1-i), 0), 8)
		b[i] |= byte(1<<hostBits - 1)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// ParseCommunity reads "AA:NN" (16 bits each) or "large:A:B:C" (32 bits each).
func ParseCommunity(s string) (Community, error) {
	if rest, ok := strings.CutPrefix(s, "large:"); ok {
		parts := strings.Split(rest, ":")
		if len(parts) != 3 || !allUint(parts, 32) {
			return Community{}, fmt.Errorf("invalid large community %q: want large:A:B:C with 32-bit numbers", s)
		}
		return Community{Large: true, Value: rest}, nil
	}
	parts := strings.Split(s, ":")
	if len(parts) != 2 || !allUint(parts, 16) {
		return Community{}, fmt.Errorf("invalid community %q: want AA:NN with 16-bit numbers", s)
	}
	return Community{Value: s}, nil
}

func allUint(parts []string, bits int) bool {
	for _, p := range parts {
		if p == "" || strings.TrimLeft(p, "0123456789") != "" {
			return false
		}
		if _, err := strconv.ParseUint(p, 10, bits); err != nil {
			return false
		}
	}
	return true
}
