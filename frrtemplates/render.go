// Package frrtemplates renders one node's BGP state (model.NodeBGP) as the frr.conf its FRR sidecar
// runs. Templates are embedded and split by concern (global, BFD, large-community lists and route
// maps, neighbours, address families); this file and policy.go only turn the model into flat, sorted
// view data so the templates stay free of logic.
package frrtemplates

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"text/template"
	"time"

	"github.com/Masterminds/sprig/v3"

	"github.com/routelb/routelb/internal/model"
)

//go:embed templates/*.tmpl
var templateFS embed.FS

var tmpl = template.Must(template.New("frr").Option("missingkey=error").
	Funcs(sprig.TxtFuncMap()).Funcs(template.FuncMap{"tok": tok, "secret": secret}).
	ParseFS(templateFS, "templates/*.tmpl"))

// tok is the templates' last gate against injection: every string that reaches a line goes through
// it, and anything that is not one printable word fails the render instead of splitting the line.
func tok(s string) (string, error) {
	if s == "" || !model.SafeToken(s) {
		return "", fmt.Errorf("refusing to render %q: not one printable word", s)
	}
	return s, nil
}

// secret is tok for a password: the error, which becomes an event and a log line, never quotes it.
func secret(s string) (string, error) {
	if s == "" || !model.SafeToken(s) {
		return "", errors.New("refusing to render a password that is not one printable word")
	}
	return s, nil
}

// Render returns the frr.conf for the node.
func Render(n *model.NodeBGP) ([]byte, error) {
	var b bytes.Buffer
	b.Grow(estimateSize(n))
	if err := tmpl.ExecuteTemplate(&b, "frr", newView(n)); err != nil {
		return nil, fmt.Errorf("rendering frr.conf for node %s: %w", n.NodeName, err)
	}
	b.WriteByte('\n')
	appendExtras(&b, n)
	return b.Bytes(), nil
}

// ExtrasMarker starts the section of a rendered frr.conf that holds a ConfigMap's extras; what
// follows it on its line is the ConfigMap's "namespace/name", so a refusal can be reported on it.
const ExtrasMarker = "! routelb: extras from ConfigMap "

// appendExtras writes the user's extras after everything routelb renders, verbatim, as MetalLB does
// with its bgpextras ConfigMap. They are not checked here: the reloader validates the whole file
// with FRR's parser before applying it, so a bad extra never reaches FRR.
func appendExtras(b *bytes.Buffer, n *model.NodeBGP) {
	if n.Extras == "" {
		return
	}
	b.WriteString("!\n" + ExtrasMarker + n.ExtrasFrom + "\n")
	b.WriteString(n.Extras)
	if !strings.HasSuffix(n.Extras, "\n") {
		b.WriteByte('\n')
	}
}

func estimateSize(n *model.NodeBGP) int {
	size := 512
	for _, r := range n.Routers {
		size += 56 * (len(r.Networks4) + len(r.Networks6))
		size += 1024 * len(r.Neighbors)
	}
	return size
}

type view struct {
	Hostname    string
	LogLevel    string   // one of model.FRRLogLevels
	Debugs      []string // rendered with LogLevel debugging
	Routers     []routerView
	BFDProfiles []*model.BFDProfile
	MarkerLists []markerList
	PrefixLists []prefixList
	RouteMaps   []routeMap
}

type routerView struct {
	ASN             uint32
	VRF             string
	RouterID        string
	PreserveFWState bool // a neighbour has graceful restart: tell peers forwarding survives a bgpd restart
	Neighbors       []neighborView
	AddressFamilies []addressFamily
}

type neighborView struct {
	ID              string
	Interface       bool
	RemoteAS        string
	Description     string
	LocalAS         uint32
	Port            uint16
	UpdateSource    string
	EBGPMultiHop    bool
	Timers          *timers
	ConnectTime     int64
	Password        string
	BFDProfile      string
	GracefulRestart bool
}

type timers struct{ Keepalive, Hold int64 }

type addressFamily struct {
	Name string // ipv4 or ipv6
	// Networks are "PREFIX route-map NAME", preformatted: with 10,000 VIPs this is most of the file.
	Networks  []string
	Neighbors []afNeighbor
}

type afNeighbor struct{ ID, RouteMapIn, RouteMapOut string }

func newView(n *model.NodeBGP) *view {
	v := &view{Hostname: n.NodeName, BFDProfiles: n.BFDProfiles, LogLevel: n.LogLevel, Debugs: debugs}
	if v.LogLevel == "" {
		v.LogLevel = "informational"
	}
	pol := newPolicy(n)
	for _, r := range n.Routers {
		rv := routerView{ASN: r.MyASN, VRF: r.VRF}
		if r.RouterID.IsValid() {
			rv.RouterID = r.RouterID.String()
		}
		af4 := addressFamily{Name: "ipv4", Networks: pol.networks(r.Networks4)}
		af6 := addressFamily{Name: "ipv6", Networks: pol.networks(r.Networks6)}
		for _, nb := range r.Neighbors {
			rv.Neighbors = append(rv.Neighbors, neighbor(r, nb))
			rv.PreserveFWState = rv.PreserveFWState || nb.Peer.GracefulRestart
			afn := afNeighbor{ID: neighborID(nb.Peer), RouteMapIn: pol.inbound(nb), RouteMapOut: pol.outbound(nb)}
			if nb.IPv4 {
				af4.Neighbors = append(af4.Neighbors, afn)
			}
			if nb.IPv6 {
				af6.Neighbors = append(af6.Neighbors, afn)
			}
		}
		// An address family without neighbours would announce to nobody: leave it out, networks too.
		for _, af := range []addressFamily{af4, af6} {
			if len(af.Neighbors) > 0 {
				rv.AddressFamilies = append(rv.AddressFamilies, af)
			}
		}
		v.Routers = append(v.Routers, rv)
	}
	v.MarkerLists, v.PrefixLists, v.RouteMaps = pol.finish()
	return v
}

// debugs are the debugs MetalLB's FRR mode turns on when the speaker logs at debug level: sessions,
// updates, next hops and the kernel interface of zebra, bgpd and bfdd. "debug bgp updates" is
// written as the two lines FRR prints for it, so the running config matches the file.
var debugs = []string{
	"debug zebra events", "debug zebra nht", "debug zebra kernel", "debug zebra rib", "debug zebra nexthop",
	"debug bgp neighbor-events", "debug bgp updates in", "debug bgp updates out", "debug bgp keepalives", "debug bgp nht", "debug bgp zebra",
	"debug bfd network", "debug bfd peer", "debug bfd zebra",
}

func neighborID(p *model.Peer) string {
	if p.Interface != "" {
		return p.Interface
	}
	return p.Addr.String()
}

func neighbor(r *model.Router, nb *model.Neighbor) neighborView {
	p := nb.Peer
	v := neighborView{
		ID: neighborID(p), Interface: p.Interface != "", Description: p.Name, LocalAS: p.LocalASN,
		Password: p.Password, BFDProfile: p.BFDProfile, GracefulRestart: p.GracefulRestart,
	}
	switch {
	case p.DynamicASN != "":
		v.RemoteAS = p.DynamicASN
	default:
		v.RemoteAS = strconv.FormatUint(uint64(p.ASN), 10)
	}
	ibgp := p.DynamicASN == "internal" || p.DynamicASN == "" && p.ASN == r.MyASN
	// FRR ignores multihop on iBGP sessions (they are multihop already); leave the line out so the
	// running config matches the file.
	v.EBGPMultiHop = p.EBGPMultiHop && !ibgp
	if p.Port != 0 && p.Port != 179 {
		v.Port = p.Port
	}
	if p.SrcAddr.IsValid() {
		v.UpdateSource = p.SrcAddr.String()
	}
	if p.HoldTime != nil || p.KeepaliveTime != nil {
		hold := 90 * time.Second
		if p.HoldTime != nil {
			hold = *p.HoldTime
		}
		ka := hold / 3
		if p.KeepaliveTime != nil {
			ka = *p.KeepaliveTime
		}
		v.Timers = &timers{Keepalive: int64(ka / time.Second), Hold: int64(hold / time.Second)}
	}
	if p.ConnectTime != nil {
		v.ConnectTime = int64(*p.ConnectTime / time.Second)
	}
	return v
}
