package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRenderMatchesGolden(t *testing.T) {
	in := filepath.Join("..", "..", "frrtemplates", "testdata", "full-metallb.yaml")
	want, err := os.ReadFile(strings.TrimSuffix(in, ".yaml") + ".conf")
	if err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	if code := run([]string{"render", "--node", "node1", "-f", in}, nil, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	if !bytes.Equal(stdout.Bytes(), want) {
		t.Errorf("routelb render differs from the golden file:\n%s", stdout.String())
	}
}

func TestRenderSeveralFilesAndStdin(t *testing.T) {
	dir := t.TempDir()
	objs, err := os.ReadFile(filepath.Join("..", "..", "frrtemplates", "testdata", "basic-ebgp.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	docs := strings.SplitN(string(objs), "---\n", 2)
	first := filepath.Join(dir, "node.yaml")
	if err := os.WriteFile(first, []byte(docs[0]), 0o644); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	code := run([]string{"render", "--node", "node1", "-f", first, "-f", "-"}, strings.NewReader(docs[1]), &stdout, &stderr)
	if code != 0 || !strings.Contains(stdout.String(), "  network 203.0.113.5/32 route-map rlb_net_") {
		t.Fatalf("exit %d, stdout:\n%s\nstderr:\n%s", code, stdout.String(), stderr.String())
	}
}

func TestRenderBadInput(t *testing.T) {
	const node = "apiVersion: v1\nkind: Node\nmetadata: {name: node1}\n---\n"
	cases := []struct {
		name, objects string
		args          []string
		stderr        []string
	}{
		{name: "peer naming a missing BFD profile", objects: node +
			"apiVersion: metallb.io/v1beta2\nkind: BGPPeer\nmetadata: {name: tor, namespace: metallb-system}\nspec: {myASN: 1, peerASN: 2, peerAddress: 198.51.100.1, bfdProfile: nope}\n",
			stderr: []string{"BGPPeer tor: spec.bfdProfile:", `"nope"`}},
		{name: "password with a newline", objects: node +
			"apiVersion: metallb.io/v1beta2\nkind: BGPPeer\nmetadata: {name: tor, namespace: metallb-system}\nspec: {myASN: 1, peerASN: 2, peerAddress: 198.51.100.1, password: \"a\\n router bgp 1\"}\n",
			stderr: []string{"BGPPeer tor: spec.password:"}},
		{name: "reversed pool range", objects: node +
			"apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {name: p, namespace: metallb-system}\nspec: {addresses: [203.0.113.9-203.0.113.1]}\n",
			stderr: []string{"IPAddressPool p: spec.addresses[0]:"}},
		{name: "bad VIP in a Service's status", objects: node +
			"apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: default}\nspec: {type: LoadBalancer}\nstatus: {loadBalancer: {ingress: [{ip: 203.0.113.300}]}}\n",
			stderr: []string{"Service default/web: status.loadBalancer.ingress[0].ip"}},
		{name: "unknown field", objects: node +
			"apiVersion: metallb.io/v1beta2\nkind: BGPPeer\nmetadata: {name: tor}\nspec: {myASN: 1, peerASn: 2}\n",
			stderr: []string{"document 1", "peerASn"}},
		{name: "wrong type", objects: node +
			"apiVersion: metallb.io/v1beta2\nkind: BGPPeer\nmetadata: {name: tor}\nspec: {myASN: one}\n",
			stderr: []string{"document 1", "myASN"}},
		{name: "unknown kind", objects: "apiVersion: v1\nkind: Pod\nmetadata: {name: x}\n", stderr: []string{"does not read"}},
		{name: "missing node", objects: node, args: []string{"--node", "node9"}, stderr: []string{"Node node9"}},
		{name: "no files", args: []string{"--node", "node1"}, stderr: []string{"usage"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			args := c.args
			if args == nil {
				args = []string{"--node", "node1"}
			}
			if c.objects != "" {
				path := filepath.Join(t.TempDir(), "objects.yaml")
				if err := os.WriteFile(path, []byte(c.objects), 0o644); err != nil {
					t.Fatal(err)
				}
				args = append(args, "-f", path)
			}
			var stdout, stderr bytes.Buffer
			code := run(append([]string{"render"}, args...), nil, &stdout, &stderr)
			if code == 0 || stdout.Len() > 0 {
				t.Fatalf("exit %d with stdout %q; want a failure and nothing printed", code, stdout.String())
			}
			for _, s := range c.stderr {
				if !strings.Contains(stderr.String(), s) {
					t.Errorf("stderr %q does not contain %q", stderr.String(), s)
				}
			}
		})
	}
}

// With --routing-daemon bird the output is the BIRD golden; a field BIRD cannot express fails the
// preview, naming the object and field.
func TestRenderBIRD(t *testing.T) {
	in := filepath.Join("..", "..", "birdtemplates", "testdata", "full-metallb.yaml")
	want, err := os.ReadFile(strings.TrimSuffix(in, ".yaml") + ".conf")
	if err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	if code := run([]string{"render", "--node", "node1", "--routing-daemon", "bird", "-f", in}, nil, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	if !bytes.Equal(stdout.Bytes(), want) {
		t.Errorf("routelb render --routing-daemon bird differs from the golden file:\n%s", stdout.String())
	}
	stdout.Reset()
	stderr.Reset()
	unnumbered := filepath.Join("..", "..", "birdtemplates", "testdata", "unnumbered.yaml")
	code := run([]string{"render", "--node", "node1", "--routing-daemon", "bird", "-f", unnumbered}, nil, &stdout, &stderr)
	if code != 1 || stdout.Len() > 0 || !strings.Contains(stderr.String(), "BGPPeer router: spec.interface: BGP unnumbered") {
		t.Errorf("unnumbered peer with bird: exit %d, stdout %q, stderr %q", code, stdout.String(), stderr.String())
	}
	if code := run([]string{"render", "--node", "node1", "--routing-daemon", "gobgp", "-f", in}, nil, &stdout, &stderr); code != 2 {
		t.Errorf("unknown daemon: exit %d, want 2", code)
	}
}
