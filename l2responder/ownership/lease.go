package ownership

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"net/netip"
	"strings"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Lease labels and annotations.
const (
	// LabelComponent marks routelb's Layer 2 ownership Leases, so each speaker watches only them.
	LabelComponent = "app.kubernetes.io/component"
	ComponentValue = "routelb-l2-ownership"
	// AnnotationClaims is the compact, sorted list of VIPs the node claims: "a,b,c-d" (c-d is every
	// address from c to d).
	AnnotationClaims = "l2.routelb.io/claims"
	// AnnotationIncarnation identifies one run of the speaker, so a restarted speaker never mistakes a
	// Lease written by its previous run (or emptied by another node) for its own.
	AnnotationIncarnation = "l2.routelb.io/incarnation"
	// AnnotationFencedBy names the node that emptied this expired Lease's claims.
	AnnotationFencedBy = "l2.routelb.io/fenced-by"
	// AnnotationDurationMillis is the exact lease duration; spec.leaseDurationSeconds is only whole
	// seconds (rounded up) and is there for humans and tools.
	AnnotationDurationMillis = "l2.routelb.io/lease-duration-ms"
	// AnnotationLAN is set by a speaker that follows the LAN fencing rule (--l2-memberlist); its
	// value is where its memberlist listens ("ip:port"), which the others join.
	AnnotationLAN = "l2.routelb.io/lan"
)

// maxRangeExpansion bounds what one "a-b" entry may expand to, so a hand-edited Lease cannot make
// every speaker allocate without bound.
const maxRangeExpansion = 1 << 16

// LeaseName is the node's Lease: "routelb-l2-<node>", shortened with a hash when too long.
func LeaseName(node string) string {
	name := "routelb-l2-" + node
	if len(name) <= 253 {
		return name
	}
	sum := sha256.Sum256([]byte(node))
	return strings.TrimRight(name[:240], "-.") + "-" + hex.EncodeToString(sum[:6])
}

// EncodeClaims writes sorted VIPs compactly: runs of consecutive addresses become "first-last".
func EncodeClaims(vips []netip.Addr) string {
	var b strings.Builder
	for i := 0; i < len(vips); {
		j := i
		for j+1 < len(vips) && vips[j].Next() == vips[j+1] {
			j++
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(vips[i].String())
		if j > i {
			b.WriteByte('-')
			b.WriteString(vips[j].String())
		}
		i = j + 1
	}
	return b.String()
}

// DecodeClaims reads what EncodeClaims wrote.
func DecodeClaims(s string) ([]netip.Addr, error) {
	if s == "" {
		return nil, nil
	}
	var out []netip.Addr
	for _, part := range strings.Split(s, ",") {
		first, last, isRange := strings.Cut(part, "-")
		a, err := netip.ParseAddr(first)
		if err != nil {
			return nil, fmt.Errorf("claim %q: %w", part, err)
		}
		if !isRange {
			out = append(out, a)
			continue
		}
		z, err := netip.ParseAddr(last)
		if err != nil || z.BitLen() != a.BitLen() || z.Less(a) {
			return nil, fmt.Errorf("claim %q: not a range of one family", part)
		}
		for n := 0; ; n++ {
			if n >= maxRangeExpansion {
				return nil, fmt.Errorf("claim %q: range longer than %d addresses", part, maxRangeExpansion)
			}
			out = append(out, a)
			if a == z {
				break
			}
			a = a.Next()
		}
	}
	return out, nil
}

// viewOf reads a Lease; a Lease whose claims cannot be read claims nothing, but stays a Lease (so
// its node is still seen as alive and is not fenced for it).
func viewOf(l *coordinationv1.Lease) (LeaseView, error) {
	v := LeaseView{ResourceVersion: l.ResourceVersion, Incarnation: l.Annotations[AnnotationIncarnation],
		FencedBy: l.Annotations[AnnotationFencedBy], LAN: l.Annotations[AnnotationLAN] != ""}
	if l.Spec.HolderIdentity != nil {
		v.Node = *l.Spec.HolderIdentity
	}
	claims, err := DecodeClaims(l.Annotations[AnnotationClaims])
	v.Claims = claims
	return v, err
}

// newLease is our Lease as first written by an incarnation; owner (our pod) replaces any previous one.
func newLease(namespace, node, incarnation string, d time.Duration, owner *metav1.OwnerReference, lanAddr string) *coordinationv1.Lease {
	secs := int32(math.Ceil(d.Seconds()))
	now := metav1.NowMicro()
	var owners []metav1.OwnerReference
	if owner != nil {
		owners = []metav1.OwnerReference{*owner}
	}
	l := &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{
			Name: LeaseName(node), Namespace: namespace, OwnerReferences: owners,
			Labels: map[string]string{LabelComponent: ComponentValue},
			Annotations: map[string]string{
				AnnotationIncarnation: incarnation, AnnotationClaims: "",
				AnnotationDurationMillis: fmt.Sprint(d.Milliseconds()),
			},
		},
		Spec: coordinationv1.LeaseSpec{HolderIdentity: &node, LeaseDurationSeconds: &secs, AcquireTime: &now, RenewTime: &now},
	}
	if lanAddr != "" {
		l.Annotations[AnnotationLAN] = lanAddr
	}
	return l
}
