package l2responder

import (
	"context"
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// WatchLinks re-reads the interfaces as soon as the kernel reports a link or address change
// (rtnetlink's link and address groups), not only every ResyncPeriod: an interface that comes up
// is answered on at once, as MetalLB's speaker follows link events. It returns when ctx ends; the
// periodic resync stays as the fallback for anything the events miss. Run it in the namespace Run
// serves, beside Run.
func (r *Responder) WatchLinks(ctx context.Context) error {
	f, err := subscribeLinks()
	if err != nil {
		return err
	}
	go func() { <-ctx.Done(); _ = f.Close() }()
	buf := make([]byte, 64<<10)
	for {
		_, err := f.Read(buf)
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.Is(err, unix.ENOBUFS):
			// Events were dropped: something changed, re-read everything.
			r.trigger()
		case err != nil:
			return fmt.Errorf("reading link events: %w", err)
		default:
			// One message or a batch: the reconcile re-reads every link, so the content does not matter.
			r.trigger()
		}
	}
}

// subscribeLinks opens a non-blocking rtnetlink socket joined to the link and address groups, as
// an *os.File so a Close from another goroutine ends a pending Read.
func subscribeLinks() (*os.File, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("opening an rtnetlink socket: %w", err)
	}
	sa := &unix.SockaddrNetlink{Family: unix.AF_NETLINK,
		Groups: unix.RTMGRP_LINK | unix.RTMGRP_IPV4_IFADDR | unix.RTMGRP_IPV6_IFADDR}
	if err := unix.Bind(fd, sa); err != nil {
		_ = unix.Close(fd)
		return nil, fmt.Errorf("subscribing to link events: %w", err)
	}
	return os.NewFile(uintptr(fd), "rtnetlink"), nil
}
