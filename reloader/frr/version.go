package frr

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Version is an FRR release (major.minor), as `show version` prints it. The zero Version means
// unknown and gets the rules of FRR 8.4, the oldest release line tested.
type Version struct{ Major, Minor int }

func (v Version) String() string { return fmt.Sprintf("%d.%d", v.Major, v.Minor) }

// AtLeast reports whether v is major.minor or later.
func (v Version) AtLeast(major, minor int) bool {
	return v.Major > major || v.Major == major && v.Minor >= minor
}

var versionRE = regexp.MustCompile(`FRRouting (\d+)\.(\d+)`)

// ParseVersion reads the release from `show version` ("FRRouting 10.3 (host) on Linux...");
// text without one gives the zero Version.
func ParseVersion(showVersion string) Version {
	m := versionRE.FindStringSubmatch(showVersion)
	if m == nil {
		return Version{}
	}
	major, _ := strconv.Atoi(m[1])
	minor, _ := strconv.Atoi(m[2])
	return Version{major, minor}
}

// Rules are what one FRR release prints differently: lines its `show running-config` leaves out
// because they are its defaults. They apply to both sides of a comparison, so a line that is a
// default on one release and a real setting on another is compared for what it means there.
type Rules struct {
	Version Version
	// defaults are root lines that equal the release's defaults and are never printed.
	defaults []string
	// bgpForms maps a BGP instance line's last word to the form the release prints it in.
	bgpForms map[string]string
}

// RulesFor returns the rules of FRR release v.
func RulesFor(v Version) Rules {
	r := Rules{Version: v}
	if v.AtLeast(9, 1) {
		// 9.1 made next-hop tracking through the default route the traditional profile's default;
		// only the "no" form is printed since.
		r.defaults = append(r.defaults, "ip nht resolve-via-default", "ipv6 nht resolve-via-default")
	}
	if v.AtLeast(10, 0) {
		// Seen on 10.3 (8.4 prints the value): the maximum TTL is printed without its value.
		r.bgpForms = map[string]string{"ebgp-multihop 255": "ebgp-multihop"}
	}
	return r
}

// bgpLine is l in the form the release prints it.
func (r Rules) bgpLine(l string) string {
	for from, to := range r.bgpForms {
		if f := strings.Fields(l); len(f) == 4 && f[0] == "neighbor" && f[2]+" "+f[3] == from {
			return "neighbor " + f[1] + " " + to
		}
	}
	return l
}
