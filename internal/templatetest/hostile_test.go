package templatetest

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/routelb/routelb/api/v1beta1"
	"github.com/routelb/routelb/api/v1beta2"
	"github.com/routelb/routelb/internal/netlab"
	"github.com/routelb/routelb/internal/nodeconfig"
	"github.com/routelb/routelb/internal/testing/testenv"
)

var (
	hostileSeed   = flag.Uint64("hostile-seed", 0, "TestHostileObjects: seed of the first round (0: from the clock); round i uses seed+i")
	hostileRounds = flag.Int("hostile-rounds", 40, "TestHostileObjects: how many sets of objects to try")
)

// TestHostileObjects sends random hostile and careless objects (Hostile) through the real API
// server and, for what it admits, through the speaker's render path for FRR and BIRD, and the
// rendered files through FRR 8.4's, FRR 10.3's and BIRD's own parsers. Each object is refused
// (by the API server, or by the model as a problem, naming the object and a field) or rendered
// into a file every parser accepts: what a daemon would refuse must never reach it, or the node's
// config freezes while every object reports valid.
//
// A failure prints the round's seed; `-hostile-seed=SEED -hostile-rounds=1` replays that round.
func TestHostileObjects(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped with -short: needs the API server (envtest), FRR 8.4, FRR 10.3 and BIRD")
	}
	seed := *hostileSeed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("hostile objects: -hostile-seed=%d -hostile-rounds=%d", seed, *hostileRounds)
	h := hostileRun{env: testenv.Start(t), parsers: map[string][]Parser{
		nodeconfig.DaemonFRR:  {FRRParser, FRRParserOf(netlab.FRR10(t))},
		nodeconfig.DaemonBIRD: {BIRDParser},
	}}
	for i := 0; i < *hostileRounds; i++ {
		s := seed + uint64(i)
		t.Run(fmt.Sprintf("seed=%d", s), func(t *testing.T) { h.round(t, s) })
	}
	t.Logf("objects refused by the API server: %d; admitted: %d; problems the model reported: %d; files parsed: %d, with %d neighbours",
		h.refused, h.admitted, h.problems, h.files, h.neighbors)
	// A generator whose every set is refused would test nothing.
	if *hostileRounds >= 10 && (h.refused == 0 || h.problems == 0 || h.neighbors == 0) {
		t.Errorf("the generator no longer covers all three outcomes (API refusal, model problem, rendered neighbour)")
	}
}

type hostileRun struct {
	env     *testenv.Env
	parsers map[string][]Parser

	refused, admitted, problems, files, neighbors int
}

// round creates one set of objects in a namespace of its own and checks the outcome. On failure
// it prints what the API server admitted, which is what the model saw.
func (h *hostileRun) round(t *testing.T, seed uint64) {
	ns := fmt.Sprintf("hostile-%d", seed%1_000_000_007)
	objs := Hostile(rand.New(rand.NewPCG(seed, seed>>32|1)), ns, fmt.Sprint(seed%1_000_000_007))
	var admitted []client.Object
	defer func() {
		if t.Failed() {
			t.Logf("seed %d (replay: go test ./internal/templatetest -run TestHostileObjects -hostile-seed=%d -hostile-rounds=1); objects admitted:\n%s",
				seed, seed, dumpObjects(admitted))
		}
	}()
	c := h.env.Client
	if err := c.Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}
	for _, obj := range objs {
		if err := createWithStatus(t, c, obj); err != nil {
			checkRefusal(t, obj, err)
			t.Logf("refused: %v", err)
			h.refused++
			continue
		}
		admitted = append(admitted, obj)
		if svc, ok := obj.(*corev1.Service); ok {
			// envtest's Service range holds a few hundred cluster IPs: give this one back.
			t.Cleanup(func() { _ = c.Delete(context.Background(), svc) })
		}
	}
	h.admitted += len(admitted)
	in := speakerInput(admitted)
	for _, daemon := range []string{nodeconfig.DaemonFRR, nodeconfig.DaemonBIRD} {
		h.render(t, in, daemon)
	}
}

// createWithStatus creates obj and, for a Service, writes the status it was generated with (a
// Create drops it).
func createWithStatus(t *testing.T, c client.Client, obj client.Object) error {
	svc, isSvc := obj.(*corev1.Service)
	var status corev1.ServiceStatus
	if isSvc {
		status = svc.Status
	}
	if err := c.Create(t.Context(), obj); err != nil {
		return err
	}
	if isSvc {
		svc.Status = status
		if err := c.Status().Update(t.Context(), svc); err != nil {
			t.Fatalf("status of Service %s: %v", svc.Name, err)
		}
	}
	return nil
}

// fieldNamed matches an API server refusal that names a field: "... is invalid: spec.x: ..." or
// "... is invalid: [metadata.name: ..., spec.y: ...]".
var fieldNamed = regexp.MustCompile(`is invalid: \[?(metadata|spec|data|stringData|type|status)\b`)

// checkRefusal fails unless the API server refused obj as invalid, naming it and a field.
func checkRefusal(t *testing.T, obj client.Object, err error) {
	t.Helper()
	if !apierrors.IsInvalid(err) {
		t.Fatalf("creating %T %s: want an Invalid error naming the field, got %v", obj, obj.GetName(), err)
	}
	if !strings.Contains(err.Error(), fmt.Sprintf("%q", obj.GetName())) || !fieldNamed.MatchString(err.Error()) {
		t.Fatalf("the refusal of %T %s does not name the object and a field: %v", obj, obj.GetName(), err)
	}
}

// speakerInput is the speaker's input from the admitted objects, read back as the API server
// stores them, for the Node among them.
func speakerInput(objs []client.Object) nodeconfig.SpeakerInput {
	var in nodeconfig.SpeakerInput
	for _, obj := range objs {
		switch o := obj.(type) {
		case *corev1.Node:
			in.Nodes, in.NodeName = append(in.Nodes, *o), o.Name
		case *corev1.Secret:
			in.Secrets = append(in.Secrets, *o)
		case *corev1.Service:
			in.Services = append(in.Services, *o)
		case *discoveryv1.EndpointSlice:
			in.EndpointSlices = append(in.EndpointSlices, *o)
		case *v1beta1.IPAddressPool:
			in.Pools = append(in.Pools, *o)
		case *v1beta1.BFDProfile:
			in.BFDProfiles = append(in.BFDProfiles, *o)
		case *v1beta1.Community:
			in.Communities = append(in.Communities, *o)
		case *v1beta1.BGPAdvertisement:
			in.BGPAdvs = append(in.BGPAdvs, *o)
		case *v1beta2.BGPPeer:
			in.Peers = append(in.Peers, *o)
		default:
			panic(fmt.Sprintf("speakerInput: no place for %T", obj))
		}
	}
	return in
}

// render computes the node's config for daemon as the speaker does: every problem names an object
// and a field, and every parser of the daemon accepts the file.
func (h *hostileRun) render(t *testing.T, in nodeconfig.SpeakerInput, daemon string) {
	t.Helper()
	if in.NodeName == "" {
		return // the Node was refused: the speaker of that node has nothing to render
	}
	res, err := nodeconfig.ComputeNodeConfig(in, nil, daemon)
	if err != nil {
		t.Fatalf("%s: computing the config: %v", daemon, err)
	}
	for _, p := range res.Problems {
		if p.Object.Kind == "" || p.Object.Name == "" || p.Field == "" {
			t.Errorf("%s: a problem does not name its object and field: %q", daemon, p.Error())
		}
	}
	h.problems += len(res.Problems)
	t.Logf("%s: %d neighbours; problems: %v", daemon, Neighbors(res.Node), res.Problems)
	path := filepath.Join(t.TempDir(), daemon+".conf")
	if err := os.WriteFile(path, res.Rendered, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, p := range h.parsers[daemon] {
		if !t.Run(p.Daemon, func(t *testing.T) { p.Check(t, path) }) {
			t.Errorf("%s refuses the rendered file (problems reported: %v):\n%s", p.Daemon, res.Problems, res.Rendered)
		}
	}
	h.files++
	h.neighbors += Neighbors(res.Node)
}

func dumpObjects(objs []client.Object) string {
	var b strings.Builder
	for _, obj := range objs {
		obj = obj.DeepCopyObject().(client.Object)
		obj.SetManagedFields(nil)
		out, err := yaml.Marshal(obj)
		if err != nil {
			out = []byte(err.Error())
		}
		fmt.Fprintf(&b, "--- # %T\n%s", obj, out)
	}
	return b.String()
}
