package frr

import "strings"

// A key names the setting a line assigns when FRR keeps one value per
// setting: writing a new value replaces the old one in place. Lines with the
// same key are changed by setting the new value only, because "no" on the old
// value could remove more than that value (e.g. "no neighbor X remote-as N"
// deletes the neighbor) and would tear things down in between.

func keyFunc(header string) func(string) string {
	switch {
	case strings.HasPrefix(header, "route-map "):
		return routeMapKey
	case isAF(header):
		return afKey
	case hasWordPrefix(header, "profile", "peer"):
		return func(l string) string { k, _ := bfdKey(l); return k }
	}
	return func(string) string { return "" }
}

func words(l string, n int) string {
	f := strings.Fields(l)
	if len(f) <= n {
		return ""
	}
	return strings.Join(f[:n], " ")
}

func globalKey(l string) string {
	f := strings.Fields(l)
	switch {
	case len(f) > 5 && (f[0] == "ip" || f[0] == "ipv6") && f[1] == "prefix-list" && f[3] == "seq":
		return words(l, 5)
	case hasWordPrefix(l, "ip router-id", "ipv6 router-id"):
		return words(l, 2)
	case hasWordPrefix(l, "log timestamp precision"):
		return words(l, 3)
	case hasWordPrefix(l, "log file", "log syslog", "log stdout"):
		return words(l, 2)
	}
	return ""
}

// neighborSingle are neighbor options holding one value.
var neighborSingle = map[string]bool{"remote-as": true, "timers": true, "password": true,
	"ebgp-multihop": true, "description": true, "update-source": true, "port": true, "local-as": true,
	"ttl-security": true, "peer-group": true, "advertisement-interval": true}

func bgpKey(l string) string {
	f := strings.Fields(l)
	switch {
	case len(f) > 4 && f[0] == "neighbor" && f[2] == "bfd" && f[3] == "profile":
		return words(l, 4)
	case len(f) > 4 && f[0] == "neighbor" && f[2] == "timers" && f[3] == "connect":
		return words(l, 4)
	case len(f) > 3 && f[0] == "neighbor" && neighborSingle[f[2]]:
		return words(l, 3)
	case hasWordPrefix(l, "bgp router-id", "timers bgp", "bgp cluster-id"):
		return words(l, 2)
	}
	return ""
}

func afKey(l string) string {
	f := strings.Fields(l)
	switch {
	case len(f) == 5 && f[0] == "neighbor" && (f[2] == "route-map" || f[2] == "prefix-list" ||
		f[2] == "filter-list"):
		return f[0] + " " + f[1] + " " + f[2] + " " + f[4]
	case len(f) > 3 && f[0] == "neighbor" && (f[2] == "allowas-in" || f[2] == "maximum-prefix" || f[2] == "weight"):
		return words(l, 3)
	case len(f) >= 2 && f[0] == "network":
		// "network P route-map M" over "network P route-map N" switches the route-map in place;
		// "no network P" first would withdraw the prefix in between.
		return f[0] + " " + f[1]
	case hasWordPrefix(l, "maximum-paths ibgp"):
		return words(l, 2)
	case hasWordPrefix(l, "maximum-paths"):
		return words(l, 1)
	}
	return ""
}

func routeMapKey(l string) string {
	f := strings.Fields(l)
	switch {
	case len(f) > 3 && f[0] == "set" && (f[1] == "ip" || f[1] == "ipv6" || f[1] == "extcommunity"):
		return words(l, 3)
	case len(f) > 2 && f[0] == "set":
		return words(l, 2)
	case len(f) > 2 && f[0] == "match":
		return words(l, len(f)-1)
	}
	return ""
}
