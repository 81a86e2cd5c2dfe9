package reloader

import (
	"regexp"
	"sort"
	"strings"
)

var secretRE = regexp.MustCompile(`\b(password|secret|key-string|authentication-key)\s+(\d\s+)?(\S+)`)

// redacted replaces a secret in everything the reloader shows.
const redacted = "<redacted>"

// Redact hides passwords in a config, for the running config shown to
// operators.
func Redact(cfg string) string {
	return secretRE.ReplaceAllString(cfg, "$1 "+redacted)
}

// Secrets lists the secret values the configs hold (the words after password and its kin), so
// that text which quotes them in another shape (a daemon's error message, a difference) can
// still be scrubbed.
func Secrets(cfgs ...[]byte) []string {
	seen := map[string]bool{}
	var out []string
	for _, c := range cfgs {
		for _, m := range secretRE.FindAllSubmatch(c, -1) {
			v := strings.Trim(string(m[3]), `";`) // BIRD quotes its passwords
			if v != "" && v != redacted && !seen[v] {
				seen[v] = true
				out = append(out, v)
			}
		}
	}
	// Longest first, so a secret that contains another is replaced whole.
	sort.Slice(out, func(i, j int) bool { return len(out[i]) > len(out[j]) })
	return out
}

// minScrubLen is the shortest secret replaced wherever it appears: a shorter one would turn every
// address and hash of the text into noise (and is found in any text anyway); it is still hidden
// after its keyword.
const minScrubLen = 4

// Scrub hides secrets in free text (errors, log values, differences): every known value
// wherever it appears, then any word after a secret keyword.
func Scrub(s string, secrets []string) string {
	for _, v := range secrets {
		if len(v) >= minScrubLen {
			s = strings.ReplaceAll(s, v, redacted)
		}
	}
	return Redact(s)
}

// scrubbedError is an error whose text had its secrets hidden; errors.Is and errors.As still
// see the original chain.
type scrubbedError struct {
	msg string
	err error
}

func (e *scrubbedError) Error() string { return e.msg }
func (e *scrubbedError) Unwrap() error { return e.err }

// scrubErr hides secrets in an error's text.
func scrubErr(err error, secrets []string) error {
	if err == nil {
		return nil
	}
	return &scrubbedError{msg: Scrub(err.Error(), secrets), err: err}
}

// scrubAll hides secrets in each line.
func scrubAll(lines, secrets []string) []string {
	if lines == nil {
		return nil
	}
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = Scrub(l, secrets)
	}
	return out
}
