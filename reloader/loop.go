package reloader

import (
	"context"
	"fmt"
	"time"

	"github.com/go-logr/logr"

	"github.com/routelb/routelb/internal/daemonfile"
)

// loop is what both daemon modes share: watch the rendered file's directory, start the session
// reporter, apply at start, then apply each burst of writes once and check the daemon every poll.
type loop struct {
	log        logr.Logger
	configPath string
	extraOwn   []string // more files in the directory that this process writes
	debounce   time.Duration
	poll       time.Duration
	// startSessions starts the session reporter, writing into statusDir; nil: none.
	startSessions func(ctx context.Context)
	sync          func(ctx context.Context, reason string, force bool)
	check         func(ctx context.Context)
}

// ownFiles reports the files the reloader writes beside the config, and their temporary files;
// their events are not changes.
func ownFiles(extra ...string) func(name string) bool {
	own := append([]string{daemonfile.StatusFile, daemonfile.RunningFile, daemonfile.SessionsFile}, extra...)
	return func(name string) bool {
		for _, f := range own {
			if name == f || daemonfile.IsTempOf(name, f) {
				return true
			}
		}
		return false
	}
}

func (l *loop) run(ctx context.Context) error {
	changed := make(chan struct{}, 1)
	if err := watchDir(ctx, l.log, l.configPath, ownFiles(l.extraOwn...), changed); err != nil {
		return fmt.Errorf("watching %s: %w", l.configPath, err)
	}
	if l.startSessions != nil {
		l.startSessions(ctx)
	}
	l.sync(ctx, "start", false)
	poll := time.NewTicker(l.poll)
	defer poll.Stop()
	var debounce <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-changed:
			// The window starts at the first event and is not extended, so a steady stream of
			// writes still gets applied every debounce.
			if debounce == nil {
				debounce = time.After(l.debounce)
			}
		case <-debounce:
			debounce = nil
			l.sync(ctx, "file", false)
		case <-poll.C:
			l.check(ctx)
		}
	}
}
