package speaker_test

import (
	"context"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// labMetricsAddr is each lab speaker's /metrics, on its own namespace's loopback.
const labMetricsAddr = "127.0.0.1:7473"

// scrapeNode reads node's /metrics from inside its namespace.
func (l *l2Lab) scrapeNode(node string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ip", "netns", "exec", l.nodes[node].NS, "curl", "-sf",
		"http://"+labMetricsAddr+"/metrics").Output()
	return string(out), err
}

// metricValue returns the value of the one sample of name with exactly labels, or -1.
func metricValue(body, name, labels string) float64 {
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name+labels) + ` (\S+)$`).FindStringSubmatch(body)
	if m == nil {
		return -1
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		return -1
	}
	return v
}

// TestL2LabMetalLBMetrics checks MetalLB's per-IP layer 2 counters and the layer2 announced
// series on real speakers answering real ARP: the owner counts the client's requests and its
// replies for the VIP and its gratuitous ARP, the others count nothing for it; after the owner
// stops, the new owner's series take over.
func TestL2LabMetalLBMetrics(t *testing.T) {
	if testing.Short() {
		t.Skip("needs root, network namespaces and the API server")
	}
	l := newL2Lab(t)
	for _, n := range l2NodeNames {
		l.start(n)
	}
	owner := l.owner(60 * time.Second)
	ip := `{ip="` + labVIP + `"}`
	announced := func(node string) string {
		return fmt.Sprintf(`{ip=%q,node=%q,protocol="layer2",service=%q}`, labVIP, node, labSvcNS+"/"+labService)
	}
	var before float64
	l.lab.Eventually(20*time.Second, func() error {
		body, err := l.scrapeNode(owner)
		if err != nil {
			return err
		}
		if v := metricValue(body, "metallb_speaker_announced", announced(owner)); v != 1 {
			return fmt.Errorf("%s: metallb_speaker_announced%s = %v", owner, announced(owner), v)
		}
		if v := metricValue(body, "metallb_layer2_gratuitous_sent", ip); v < 1 {
			return fmt.Errorf("%s: no gratuitous ARP counted for %s", owner, labVIP)
		}
		before = metricValue(body, "metallb_layer2_responses_sent", ip)
		for name, typ := range map[string]string{"metallb_layer2_requests_received": "counter",
			"metallb_layer2_responses_sent": "counter", "metallb_layer2_gratuitous_sent": "counter",
			"metallb_speaker_announced": "gauge"} {
			if !strings.Contains(body, "\n# TYPE "+name+" "+typ+"\n") {
				return fmt.Errorf("%s: no %s of type %s", owner, name, typ)
			}
		}
		return nil
	})
	if macs := l.arping(3); len(macs) != 3 || l.nodeOfMAC(macs[0]) != owner {
		t.Fatalf("ARP replies from %v, want 3 from %s", macs, owner)
	}
	body, err := l.scrapeNode(owner)
	l2Must(t, err)
	if before < 0 {
		before = 0
	}
	if got := metricValue(body, "metallb_layer2_responses_sent", ip); got < before+3 {
		t.Errorf("%s: metallb_layer2_responses_sent%s = %v after 3 answered requests, was %v", owner, ip, got, before)
	}
	if req, resp := metricValue(body, "metallb_layer2_requests_received", ip), metricValue(body, "metallb_layer2_responses_sent", ip); req < resp {
		t.Errorf("%s: %v requests received but %v responses sent for %s", owner, req, resp, labVIP)
	}
	for _, n := range l2NodeNames {
		if n == owner {
			continue
		}
		b, err := l.scrapeNode(n)
		l2Must(t, err)
		for _, name := range []string{"metallb_layer2_requests_received", "metallb_layer2_responses_sent"} {
			if v := metricValue(b, name, ip); v > 0 {
				t.Errorf("%s, not the owner, has %s%s = %v", n, name, ip, v)
			}
		}
		if strings.Contains(b, `metallb_speaker_announced{ip="`+labVIP+`"`) {
			t.Errorf("%s, not the owner, says it announces %s", n, labVIP)
		}
	}

	l.resolve() // the take-over is seen as the client's neighbour entry moving
	l.lab.Eventually(10*time.Second, func() error {
		if n := l.nodeOfMAC(l.neighbour()); n != owner {
			l.resolve()
			return fmt.Errorf("client's neighbour entry points at %q, want %s", n, owner)
		}
		return nil
	})
	l.signal(owner, syscall.SIGTERM)
	next := l.waitNeighbourMoves(owner, 10*time.Second)
	l.lab.Eventually(20*time.Second, func() error {
		b, err := l.scrapeNode(next)
		if err != nil {
			return err
		}
		if v := metricValue(b, "metallb_speaker_announced", announced(next)); v != 1 {
			return fmt.Errorf("%s: metallb_speaker_announced%s = %v", next, announced(next), v)
		}
		if v := metricValue(b, "metallb_layer2_gratuitous_sent", ip); v < 1 {
			return fmt.Errorf("%s took over without counting a gratuitous ARP", next)
		}
		return nil
	})
}
