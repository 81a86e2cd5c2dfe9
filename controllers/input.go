// Package controllers is what routelb's reconcilers share: the scheme, and the listing of the objects
// model.Build reads. The reconcilers live by binary in controllers/ipam (cmd/controller) and
// controllers/speaker (cmd/speaker), so neither binary links the other's code or metrics.
package controllers

import (
	"context"
	"fmt"
	"maps"
	"slices"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/routelb/routelb/api/v1beta1"
	"github.com/routelb/routelb/api/v1beta2"
	"github.com/routelb/routelb/internal/model"
	"github.com/routelb/routelb/internal/nodeconfig"
)

// LoadInput lists every object model.Build needs: the metallb.io objects and Secrets of routelb's
// namespace, and all Nodes. The webhook reads this way: it judges a BGPPeer against a Secret that no
// other peer names yet.
func LoadInput(ctx context.Context, c client.Reader, namespace string) (model.Input, error) {
	in, err := loadObjects(ctx, c, namespace)
	if err != nil {
		return in, err
	}
	var secrets corev1.SecretList
	if err := c.List(ctx, &secrets, client.InNamespace(namespace)); err != nil {
		return in, fmt.Errorf("listing secrets: %w", err)
	}
	in.Secrets = secrets.Items
	return in, nil
}

// loadObjects lists what LoadInput does, Secrets aside.
func loadObjects(ctx context.Context, c client.Reader, namespace string) (model.Input, error) {
	var (
		in      model.Input
		pools   v1beta1.IPAddressPoolList
		peers   v1beta2.BGPPeerList
		bgpAdvs v1beta1.BGPAdvertisementList
		l2Advs  v1beta1.L2AdvertisementList
		bfds    v1beta1.BFDProfileList
		comms   v1beta1.CommunityList
		nodes   corev1.NodeList
		inNS    = client.InNamespace(namespace)
		toList  = []client.ObjectList{&pools, &peers, &bgpAdvs, &l2Advs, &bfds, &comms}
	)
	for _, l := range toList {
		if err := c.List(ctx, l, inNS); err != nil {
			return in, fmt.Errorf("listing %T: %w", l, err)
		}
	}
	if err := c.List(ctx, &nodes); err != nil {
		return in, fmt.Errorf("listing nodes: %w", err)
	}
	in.Pools, in.Peers, in.BGPAdvs, in.L2Advs = pools.Items, peers.Items, bgpAdvs.Items, l2Advs.Items
	in.BFDProfiles, in.Communities, in.Nodes = bfds.Items, comms.Items, nodes.Items
	return in, nil
}

// PeerSecrets gets, one name at a time, the Secrets the BGPPeers name (spec.passwordSecret), and no
// other: the speaker may get a Secret but not list them (docs/security.md, "Least privilege"). A
// missing one is left out; the model reports it on the peer.
func PeerSecrets(ctx context.Context, c client.Reader, namespace string, peers []v1beta2.BGPPeer) ([]corev1.Secret, error) {
	var out []corev1.Secret
	for _, name := range SecretNames(peers) {
		var s corev1.Secret
		err := c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, &s)
		switch {
		case apierrors.IsNotFound(err):
		case err != nil:
			return nil, fmt.Errorf("getting secret %s/%s: %w", namespace, name, err)
		default:
			out = append(out, s)
		}
	}
	return out, nil
}

// SecretNames are the distinct Secret names the peers' spec.passwordSecret give, sorted.
func SecretNames(peers []v1beta2.BGPPeer) []string {
	seen := map[string]bool{}
	for i := range peers {
		if n := peers[i].Spec.PasswordSecret.Name; n != "" {
			seen[n] = true
		}
	}
	return slices.Sorted(maps.Keys(seen))
}

// LoadSpeakerInput lists what a speaker reconciler needs: LoadInput with only the Secrets the BGPPeers
// name (PeerSecrets), plus every Service and EndpointSlice.
func LoadSpeakerInput(ctx context.Context, c client.Reader, namespace, node, lbClass string) (nodeconfig.SpeakerInput, error) {
	in := nodeconfig.SpeakerInput{NodeName: node, LBClass: lbClass}
	var err error
	if in.Input, err = loadObjects(ctx, c, namespace); err != nil {
		return in, err
	}
	if in.Secrets, err = PeerSecrets(ctx, c, namespace, in.Peers); err != nil {
		return in, err
	}
	var svcs corev1.ServiceList
	var slices discoveryv1.EndpointSliceList
	if err := c.List(ctx, &svcs); err != nil {
		return in, fmt.Errorf("listing services: %w", err)
	}
	if err := c.List(ctx, &slices); err != nil {
		return in, fmt.Errorf("listing endpointslices: %w", err)
	}
	in.Services, in.EndpointSlices = svcs.Items, slices.Items
	return in, nil
}

// Scheme has the core kinds and routelb's metallb.io kinds.
func Scheme() *runtime.Scheme {
	s := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(s))
	utilruntime.Must(v1beta1.AddToScheme(s))
	utilruntime.Must(v1beta2.AddToScheme(s))
	return s
}
