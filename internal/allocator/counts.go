package allocator

import (
	"math"
	"net/netip"
	"sort"

	"github.com/routelb/routelb/internal/model"
)

// Counts are a pool's addresses per family, as IPAddressPool status reports them.
type Counts struct {
	AssignedIPv4, AssignedIPv6   int64
	AvailableIPv4, AvailableIPv6 int64
}

// Total is every address of the pool, capped at MaxInt64.
func (c Counts) Total() int64 {
	return satAdd(satAdd(c.AssignedIPv4, c.AvailableIPv4), satAdd(c.AssignedIPv6, c.AvailableIPv6))
}

// InUse is the number of addresses given to at least one Service.
func (c Counts) InUse() int64 { return c.AssignedIPv4 + c.AssignedIPv6 }

// Counts returns a pool's counts; ok is false for an unknown pool.
func (a *Allocator) Counts(pool string) (Counts, bool) {
	p, ok := a.pools[pool]
	if !ok {
		return Counts{}, false
	}
	return Counts{
		AssignedIPv4: p.assigned[0], AssignedIPv6: p.assigned[1],
		AvailableIPv4: p.total[0] - p.assigned[0], AvailableIPv6: p.total[1] - p.assigned[1],
	}, true
}

// Pools returns the names of the pools, sorted.
func (a *Allocator) Pools() []string {
	out := make([]string, 0, len(a.pools))
	for n := range a.pools {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// TakeDirty returns the pools (present or removed) whose counts may have changed since the last call.
func (a *Allocator) TakeDirty() []string {
	out := make([]string, 0, len(a.dirty))
	for n := range a.dirty {
		out = append(out, n)
	}
	clear(a.dirty)
	sort.Strings(out)
	return out
}

func famIndex(ip netip.Addr) int {
	if ip.Is4() {
		return 0
	}
	return 1
}

// buggy reports an IPv4 address ending in .0 or .255, which MetalLB's avoidBuggyIPs skips.
func buggy(ip netip.Addr) bool {
	if !ip.Is4() {
		return false
	}
	b := ip.As4()[3]
	return b == 0 || b == 255
}

// rangeSize counts a range's usable addresses, capped at MaxInt64 (an IPv6 /64 has more).
func rangeSize(r model.Range, avoidBuggy bool) int64 {
	first, last := r.First, r.Last
	hiF, loF := u128(first)
	hiL, loL := u128(last)
	hi, lo := hiL-hiF, loL-loF
	if loL < loF {
		hi--
	}
	// n = last-first+1
	lo++
	if lo == 0 {
		hi++
	}
	if hi != 0 || lo > math.MaxInt64 {
		return math.MaxInt64
	}
	n := int64(lo)
	if avoidBuggy && first.Is4() {
		a, b := int64(loF), int64(loL)
		n -= endsIn(b, 0) - endsIn(a-1, 0) + endsIn(b, 255) - endsIn(a-1, 255)
	}
	return n
}

// endsIn counts x in [0, n] with x%256 == r.
func endsIn(n, r int64) int64 {
	if n < r {
		return 0
	}
	return (n-r)/256 + 1
}

func u128(ip netip.Addr) (hi, lo uint64) {
	b := ip.As16()
	if ip.Is4() {
		v := ip.As4()
		return 0, uint64(v[0])<<24 | uint64(v[1])<<16 | uint64(v[2])<<8 | uint64(v[3])
	}
	for i := 0; i < 8; i++ {
		hi = hi<<8 | uint64(b[i])
		lo = lo<<8 | uint64(b[8+i])
	}
	return hi, lo
}

func satAdd(a, b int64) int64 {
	if a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}
