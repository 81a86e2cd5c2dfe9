package model

import (
	"github.com/routelb/routelb/api/v1beta1"
)

func buildBFDProfile(p *v1beta1.BFDProfile, ps *Problems) *BFDProfile {
	ref := Ref{Kind: KindBFD, Name: p.Name}
	before := len(*ps)
	s := p.Spec
	runChecks(ps, ref, []check{
		{"metadata.name", p.Name, "dnslabel", "must be a lowercase DNS name, as it becomes an FRR profile name"},
		{"spec.receiveInterval", deref(s.ReceiveInterval, DefaultBFDInterval), "min=10,max=60000", "must be 10 to 60000 ms"},
		{"spec.transmitInterval", deref(s.TransmitInterval, DefaultBFDInterval), "min=10,max=60000", "must be 10 to 60000 ms"},
		{"spec.detectMultiplier", deref(s.DetectMultiplier, DefaultBFDMultiplier), "min=2,max=255", "must be 2 to 255"},
		{"spec.echoInterval", deref(s.EchoInterval, DefaultBFDEcho), "min=10,max=60000", "must be 10 to 60000 ms"},
		{"spec.minimumTtl", deref(s.MinimumTTL, 0), "omitempty,min=1,max=254", "must be 1 to 254"},
	})
	echo, passive := s.EchoMode != nil && *s.EchoMode, s.PassiveMode != nil && *s.PassiveMode
	if len(*ps) > before {
		return nil
	}
	return &BFDProfile{
		Name:             p.Name,
		ReceiveInterval:  deref(s.ReceiveInterval, DefaultBFDInterval),
		TransmitInterval: deref(s.TransmitInterval, DefaultBFDInterval),
		DetectMultiplier: deref(s.DetectMultiplier, DefaultBFDMultiplier),
		EchoInterval:     deref(s.EchoInterval, DefaultBFDEcho),
		EchoMode:         echo,
		PassiveMode:      passive,
		MinimumTTL:       deref(s.MinimumTTL, 0),
	}
}

func deref[T any](p *T, def T) T {
	if p == nil {
		return def
	}
	return *p
}
