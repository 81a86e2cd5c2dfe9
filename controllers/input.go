// Package controllers holds routelb's reconcilers. They read the cluster through controller-runtime's
// cache, build the validated model with model.Build, and act on the result.
package controllers

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/routelb/routelb/api/v1beta1"
	"github.com/routelb/routelb/api/v1beta2"
	"github.com/routelb/routelb/internal/model"
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
