package ipam

import (
	"bytes"
	"context"
	"errors"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/routelb/routelb/internal/testing/testenv"
)

// corpusDir holds MetalLB's own examples: its repository's configsamples/ and every metallb.io
// example of its website docs, one file per example, each naming its source on its first line.
var corpusDir = filepath.Join(testenv.RepoRoot(), "api", "testdata", "metallb")

// corpusContradictions are the objects that cannot all exist together: the examples reuse names
// and addresses. MetalLB refuses these too, for the reason given (its webhooks validate the same
// cross-object rules). Keyed by "file kind/name", the values are substrings of routelb's refusal.
var corpusContradictions = map[string][]string{
	// Pools of different examples sharing addresses; MetalLB: "CIDR ... overlaps with already
	// defined CIDR". The problem names both pools and goes to the newer of the two, which depends
	// on the second each was created in (names break ties), so only the pair is checked.
	"docs-configuration-advanced_ipaddresspool_configuration-02.yaml IPAddressPool/expensive": {"overlaps addresses of IPAddressPool", "expensive", "production"},
	"docs-configuration-advanced_bgp_configuration-01.yaml IPAddressPool/first-pool":          {"overlaps addresses of IPAddressPool", "first-pool", "my-ip-space"},
	"docs-configuration-index-01.yaml IPAddressPool/first-pool":                               {"overlaps addresses of IPAddressPool", "first-pool", "second-pool"},
	"configsamples-simple_pool_adv_l2.yaml IPAddressPool/example":                             {"overlaps addresses of IPAddressPool", "example", "cheap"},
	"configsamples-ipaddresspool_simple.yaml IPAddressPool/example":                           {"overlaps addresses of IPAddressPool", "example", "cheap"},
	"configsamples-deployment_l2.yaml IPAddressPool/example":                                  {"overlaps addresses of IPAddressPool", "example", "cheap"},
	"configsamples-deployment_bgp.yaml IPAddressPool/example":                                 {"overlaps addresses of IPAddressPool", "example", "cheap"},
	"configsamples-simple_pool_adv_bgp.yaml IPAddressPool/example":                            {"overlaps addresses of IPAddressPool", "example", "cheap"},
	// Two Community objects defining one alias; MetalLB: "duplicate definition of community".
	"configsamples-bgpadvertisement_community_alias.yaml Community/community1": {`alias "NO_ADVERTISE" is already defined (Community communities)`},
	// An advertisement of all pools aggregating to /24 while another example's first-pool is a
	// /29; MetalLB: "invalid aggregation length 24: prefix 29 in this pool is more specific than
	// the aggregation length".
	"docs-configuration-advanced_bgp_configuration-03.yaml BGPAdvertisement/external": {"24 is shorter than the pool's CIDR 192.168.1.240/29 (IPAddressPool first-pool)"},
	// Peers of different examples that one node could not run together. The examples create no
	// Node, so every pair may share one (MetalLB's checkFRRPeersCompatible); MetalLB: "peer ...
	// already exists, FRR mode doesn't support duplicate BGPPeers" and "... has myAsn different
	// from ...". The incoming object is the one refused, so the pair is fixed by the order.
	"configsamples-bgppeer_simple.yaml BGPPeer/peer":               {"with no Node objects", "this address is already peered with by", "BGPPeer peersample"},
	"configsamples-bgppeer_with_bfdprofile.yaml BGPPeer/peer":      {"with no Node objects", "this address is already peered with by", "BGPPeer peersample"},
	"configsamples-bgppeer_with_session_options.yaml BGPPeer/peer": {"with no Node objects", "this address is already peered with by", "BGPPeer peersample"},
	// Waiting for its Secret does not exempt it: MetalLB checks peers whatever they refer to.
	"configsamples-bgppeer_withsecret.yaml BGPPeer/peer-with-secret":        {"with no Node objects", "this address is already peered with by", "BGPPeer peersample"},
	"configsamples-bgppeer_with_vrf.yaml BGPPeer/peer":                      {"with no Node objects", "this address is already peered with by", "BGPPeer example"},
	"configsamples-deployment_bgp.yaml BGPPeer/peer":                        {"with no Node objects", "this address is already peered with by", "BGPPeer peersample"},
	"docs-configuration-advanced_bgp_configuration-04.yaml BGPPeer/example": {"with no Node objects", "this address is already peered with by", "BGPPeer peersample"},
	"docs-configuration-advanced_bgp_configuration-09.yaml BGPPeer/example": {"with no Node objects", "this address is already peered with by", "BGPPeer peersample"},
	"docs-configuration-advanced_bgp_configuration-13.yaml BGPPeer/peer":    {"with no Node objects", "this address is already peered with by", "BGPPeer peersample"},
	"docs-configuration-advanced_bgp_configuration-14.yaml BGPPeer/example": {"with no Node objects", "this address is already peered with by", "BGPPeer peersample"},
	"docs-configuration-advanced_bgp_configuration-15.yaml BGPPeer/example": {"with no Node objects", "this address is already peered with by", "BGPPeer peersample"},
	"docs-configuration-index-05.yaml BGPPeer/sample":                       {"with no Node objects", "peers of one VRF need the same myASN as", "BGPPeer peer1"},
}

type corpusObject struct {
	file string
	obj  *unstructured.Unstructured
}

func (o corpusObject) key() string { return o.file + " " + o.obj.GetKind() + "/" + o.obj.GetName() }

// readCorpus returns the metallb.io objects of every file, in file order; other kinds (the
// examples' Deployments, Services, FRRConfigurations) are not routelb's and are left out.
func readCorpus(t *testing.T) map[string][]corpusObject {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(corpusDir, "*.yaml"))
	if len(files) < 60 {
		t.Fatalf("want MetalLB's ~70 example files in %s, found %d", corpusDir, len(files))
	}
	out := map[string][]corpusObject{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(data, []byte("# source: ")) {
			t.Fatalf("%s: the first line must name the example's source", f)
		}
		dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
		for {
			u := &unstructured.Unstructured{}
			if err := dec.Decode(&u.Object); err != nil {
				if errors.Is(err, io.EOF) {
					break
				}
				t.Fatalf("%s: %v", f, err)
			}
			if len(u.Object) == 0 || !strings.HasPrefix(u.GetAPIVersion(), "metallb.io/") {
				continue
			}
			unstructured.RemoveNestedField(u.Object, "status")
			unstructured.RemoveNestedField(u.Object, "metadata", "creationTimestamp")
			out[filepath.Base(f)] = append(out[filepath.Base(f)], corpusObject{file: filepath.Base(f), obj: u})
		}
	}
	return out
}

// applyObject creates the object or replaces the one of that name, as `kubectl apply` of the file
// would; unknown fields are refused (Strict), so a field the CRDs lack cannot be pruned silently.
func applyObject(ctx context.Context, c client.Client, obj *unstructured.Unstructured) error {
	o := obj.DeepCopy()
	err := c.Create(ctx, o, client.FieldValidation("Strict"))
	if !apierrors.IsAlreadyExists(err) {
		return err
	}
	// The controller writes pool status meanwhile; kubectl apply patches and never conflicts, so a
	// conflict here is retried rather than counted as a refusal.
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cur := &unstructured.Unstructured{}
		cur.SetGroupVersionKind(o.GroupVersionKind())
		if err := c.Get(ctx, client.ObjectKeyFromObject(o), cur); err != nil {
			return err
		}
		o.SetResourceVersion(cur.GetResourceVersion())
		return c.Update(ctx, o, client.FieldValidation("Strict"))
	})
}

// clearNamespace deletes every metallb.io object of routelb's namespace, peers first (a BFD profile
// in use cannot be deleted).
func clearNamespace(ctx context.Context, t *testing.T, c client.Client) {
	t.Helper()
	for _, kind := range []string{"BGPPeer", "BGPAdvertisement", "L2Advertisement", "BFDProfile", "Community", "IPAddressPool"} {
		list := &unstructured.UnstructuredList{}
		list.SetAPIVersion("metallb.io/v1beta1")
		if kind == "BGPPeer" {
			list.SetAPIVersion("metallb.io/v1beta2")
		}
		list.SetKind(kind + "List")
		if err := c.List(ctx, list, client.InNamespace(testenv.Namespace)); err != nil {
			t.Fatal(err)
		}
		for i := range list.Items {
			if err := c.Delete(ctx, &list.Items[i]); client.IgnoreNotFound(err) != nil {
				t.Fatalf("clearing %s %s: %v", kind, list.Items[i].GetName(), err)
			}
		}
	}
}

// reversedCorpus is every object of every file, last file first and last object first, so
// references come before what they name.
func reversedCorpus(corpus map[string][]corpusObject) []corpusObject {
	var all []corpusObject
	for _, f := range slices.Sorted(maps.Keys(corpus)) {
		all = append(all, corpus[f]...)
	}
	slices.Reverse(all)
	return all
}

// applyAll applies the objects in order and returns the refusals by key.
func applyAll(ctx context.Context, c client.Client, all []corpusObject) map[string]string {
	refused := map[string]string{}
	for _, o := range all {
		if err := applyObject(ctx, c, o.obj); err != nil {
			refused[o.key()] = err.Error()
		}
	}
	return refused
}

// TestMetalLBCorpus applies MetalLB's own examples against a real API server with routelb's CRDs,
// conversion webhook and validating webhook: first each file alone (MetalLB accepts every one, so
// routelb must), then all of them at once in reverse order (references before what they name),
// where only the contradictions between examples, which MetalLB refuses too, may be refused.
func TestMetalLBCorpus(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped with -short: starts an API server")
	}
	e := startIPAMEnv(t, true)
	e.startManager()
	ctx := context.Background()
	corpus := readCorpus(t)
	files := slices.Sorted(maps.Keys(corpus))
	first := corpus[files[0]][0].obj
	eventually(t, "the webhooks serving", func() (bool, string) {
		err := applyObject(ctx, e.c, first)
		return err == nil, errString(err)
	})
	clearNamespace(ctx, t, e.c)

	t.Run("one by one", func(t *testing.T) {
		for _, f := range files {
			for _, o := range corpus[f] {
				if err := applyObject(ctx, e.c, o.obj); err != nil {
					t.Errorf("%s: refused: %v", o.key(), err)
				}
			}
			clearNamespace(ctx, t, e.c)
		}
	})

	t.Run("all at once in reverse order", func(t *testing.T) {
		all := reversedCorpus(corpus)
		refused := applyAll(ctx, e.c, all)
		for k, msg := range refused {
			want, ok := corpusContradictions[k]
			switch {
			case !ok:
				t.Errorf("%s: refused, though MetalLB accepts it: %s", k, msg)
			case slices.ContainsFunc(want, func(w string) bool { return !strings.Contains(msg, w) }):
				t.Errorf("%s: refused with %q, want a refusal naming %q", k, msg, want)
			default:
				t.Logf("%s: refused as MetalLB refuses it: %s", k, msg)
			}
		}
		for k := range corpusContradictions {
			if _, ok := refused[k]; !ok {
				t.Errorf("%s: accepted, though it contradicts another example", k)
			}
		}
		t.Logf("%d objects from %d files, %d refused", len(all), len(files), len(refused))
	})
}
