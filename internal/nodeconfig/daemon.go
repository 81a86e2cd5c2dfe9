package nodeconfig

import (
	"fmt"

	"github.com/routelb/routelb/birdtemplates"
	"github.com/routelb/routelb/frrtemplates"
	"github.com/routelb/routelb/internal/model"
)

// Routing daemons the speaker can render for: the values of --routing-daemon (Daemon.Kind).
const (
	DaemonFRR  = "frr"
	DaemonBIRD = "bird"
)

// FRRConfigFile is the file the speaker writes into the directory it shares with the FRR sidecar.
const FRRConfigFile = "frr.conf"

// BIRDConfigFile is the file the speaker writes for a BIRD sidecar.
const BIRDConfigFile = "bird.conf"

// Daemon is the speaker's side of one routing daemon: which file it reads, how its config is
// rendered, and what the model must give up for it. The reloader's side is reloader.Daemon.
type Daemon struct {
	Kind   string // DaemonFRR or DaemonBIRD
	Name   string // in messages: "FRR", "BIRD"
	File   string // written into the directory shared with the reloader
	Render func(*model.NodeBGP) ([]byte, error)
	// Restrict leaves out of the model, or keeps at their last good version, the objects that use
	// what the daemon cannot express, with a problem on each; nil: the daemon expresses everything.
	Restrict func(cfg, lastGood *model.Config) (*model.Config, model.Problems)
}

// The daemons the speaker renders for.
var (
	FRR  = Daemon{Kind: DaemonFRR, Name: "FRR", File: FRRConfigFile, Render: frrtemplates.Render}
	BIRD = Daemon{Kind: DaemonBIRD, Name: "BIRD", File: BIRDConfigFile, Render: birdtemplates.Render,
		Restrict: model.ForBIRD}
)

// DaemonFor is the daemon of a --routing-daemon value; "" is FRR, the default.
func DaemonFor(kind string) (Daemon, error) {
	switch kind {
	case DaemonFRR, "":
		return FRR, nil
	case DaemonBIRD:
		return BIRD, nil
	}
	return Daemon{}, fmt.Errorf("unknown routing daemon %q: want %s or %s", kind, DaemonFRR, DaemonBIRD)
}

// CheckDaemon validates a --routing-daemon value.
func CheckDaemon(kind string) error {
	if kind == "" {
		return fmt.Errorf("unknown routing daemon %q: want %s or %s", kind, DaemonFRR, DaemonBIRD)
	}
	_, err := DaemonFor(kind)
	return err
}
