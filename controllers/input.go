// Package controllers is what routelb's reconcilers share: the scheme, and the listing of the objects
// model.Build reads. The reconcilers live by binary in controllers/ipam (cmd/controller) and
// controllers/speaker (cmd/speaker), so neither binary links the other's code or metrics.
package controllers

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
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
// namespace, and all Nodes.
func LoadInput(ctx context.Context, c client.Reader, namespace string) (model.Input, error) {
	var (
		in      model.Input
		pools   v1beta1.IPAddressPoolList
		peers   v1beta2.BGPPeerList
		bgpAdvs v1beta1.BGPAdvertisementList
		l2Advs  v1beta1.L2AdvertisementList
		bfds    v1beta1.BFDProfileList
		comms   v1beta1.CommunityList
		secrets corev1.SecretList
		nodes   corev1.NodeList
		inNS    = client.InNamespace(namespace)
		toList  = []client.ObjectList{&pools, &peers, &bgpAdvs, &l2Advs, &bfds, &comms, &secrets}
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
	in.BFDProfiles, in.Communities, in.Secrets, in.Nodes = bfds.Items, comms.Items, secrets.Items, nodes.Items
	return in, nil
}

// LoadSpeakerInput lists what a speaker reconciler needs: LoadInput plus every Service and EndpointSlice.
func LoadSpeakerInput(ctx context.Context, c client.Reader, namespace, node, lbClass string) (nodeconfig.SpeakerInput, error) {
	in := nodeconfig.SpeakerInput{NodeName: node, LBClass: lbClass}
	var err error
	if in.Input, err = LoadInput(ctx, c, namespace); err != nil {
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
