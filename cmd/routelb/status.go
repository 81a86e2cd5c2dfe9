package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/routelb/routelb/api/v1beta1"
	"github.com/routelb/routelb/api/v1beta2"
	"github.com/routelb/routelb/internal/statusview"
)

// status prints, from the cluster, which nodes announce each VIP and to which peers, who owns each
// Layer 2 VIP, and each node's sessions and last apply outcome: what an operator checks before
// reaching for vtysh. It only reads; nothing in the cluster changes.
func status(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("routelb status", flag.ContinueOnError)
	fs.SetOutput(stderr)
	kubeconfig := fs.String("kubeconfig", "", "kubeconfig file (default: $KUBECONFIG, then ~/.kube/config, then in-cluster)")
	kubeContext := fs.String("context", "", "kubeconfig context (default: the current one)")
	namespace := fs.String("n", "metallb-system", "namespace routelb runs in (its BGPPeers, status objects and Leases)")
	output := fs.String("o", "text", "output: text or json")
	timeout := fs.Duration("timeout", 30*time.Second, "time allowed for listing the objects")
	fs.Usage = func() {
		_, _ = fmt.Fprintln(stderr, "usage: routelb status [--kubeconfig FILE] [--context NAME] [-n NAMESPACE] [-o text|json]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 || (*output != "text" && *output != "json") {
		fs.Usage()
		return 2
	}
	cfg, err := restConfig(*kubeconfig, *kubeContext)
	if err != nil {
		return fail(stderr, "routelb status: %v\n", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	in, err := listInput(ctx, cfg, *namespace)
	if err != nil {
		return fail(stderr, "routelb status: %v\n", err)
	}
	v := statusview.Build(in)
	if *output == "json" {
		err = statusview.WriteJSON(stdout, v)
	} else {
		err = statusview.WriteText(stdout, v)
	}
	if err != nil {
		return fail(stderr, "routelb status: %v\n", err)
	}
	return 0
}

func restConfig(path, kubeContext string) (*rest.Config, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = path
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules,
		&clientcmd.ConfigOverrides{CurrentContext: kubeContext}).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("loading the kubeconfig: %w", err)
	}
	cfg.UserAgent = "routelb-status"
	return cfg, nil
}

var (
	gvrBGPStatus    = v1beta1.GroupVersion.WithResource("servicebgpstatuses")
	gvrL2Status     = v1beta1.GroupVersion.WithResource("servicel2statuses")
	gvrConfigState  = v1beta1.GroupVersion.WithResource("configurationstates")
	gvrBGPPeer      = v1beta2.GroupVersion.WithResource("bgppeers")
	leaseSelector   = statusview.LeaseComponentLabel + "=" + statusview.LeaseComponentValue
	nodeEventFields = "regarding.kind=Node"
)

// listInput lists what the view reads: the metallb.io kinds through the dynamic client (the CLI
// links no controller-runtime and there are no generated clients), the core kinds typed.
func listInput(ctx context.Context, cfg *rest.Config, ns string) (statusview.Input, error) {
	in := statusview.Input{Now: time.Now()}
	kc, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return in, err
	}
	dc, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return in, err
	}
	svcs, err := kc.CoreV1().Services(metav1.NamespaceAll).List(ctx, metav1.ListOptions{})
	if err != nil {
		return in, fmt.Errorf("listing Services: %w", err)
	}
	in.Services = svcs.Items
	leases, err := kc.CoordinationV1().Leases(ns).List(ctx, metav1.ListOptions{LabelSelector: leaseSelector})
	if err != nil {
		return in, fmt.Errorf("listing Leases in %s: %w", ns, err)
	}
	in.Leases = leases.Items
	evs, err := kc.EventsV1().Events(metav1.NamespaceAll).List(ctx, metav1.ListOptions{FieldSelector: nodeEventFields})
	if err != nil {
		return in, fmt.Errorf("listing the Nodes' events: %w", err)
	}
	in.Events = evs.Items
	if err := listDynamic(ctx, dc, gvrBGPStatus, ns, &in.BGPStatuses); err != nil {
		return in, err
	}
	if err := listDynamic(ctx, dc, gvrL2Status, ns, &in.L2Statuses); err != nil {
		return in, err
	}
	if err := listDynamic(ctx, dc, gvrConfigState, ns, &in.ConfigStates); err != nil {
		return in, err
	}
	return in, listDynamic(ctx, dc, gvrBGPPeer, ns, &in.Peers)
}

// listDynamic lists one kind and converts each item into its Go type.
func listDynamic[T any](ctx context.Context, dc dynamic.Interface, gvr schema.GroupVersionResource, ns string, out *[]T) error {
	list, err := dc.Resource(gvr).Namespace(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("listing %s in %s: %w", gvr.GroupResource(), ns, err)
	}
	for _, u := range list.Items {
		var obj T
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &obj); err != nil {
			return fmt.Errorf("%s %s/%s: %w", u.GetKind(), u.GetNamespace(), u.GetName(), err)
		}
		*out = append(*out, obj)
	}
	return nil
}
