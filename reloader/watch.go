package reloader

import (
	"context"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/go-logr/logr"
)

// watchDir sends on changed whenever something happens in the config file's
// directory. The directory is watched rather than the file because writers
// replace the file by rename (an inotify watch on the old inode would go
// silent), the file may appear only later, and Kubernetes swaps a ConfigMap
// volume's "..data" symlink. The parent is watched too, to re-arm the watch
// when the directory itself is removed and created again. ignore reports names
// the reloader writes itself (status files), whose events are dropped.
func watchDir(ctx context.Context, log logr.Logger, path string, ignore func(name string) bool, changed chan<- struct{}) error {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return err
	}
	go func() {
		<-ctx.Done()
		_ = w.Close()
	}()
	dir := filepath.Dir(path)
	_ = w.Add(filepath.Dir(dir)) // best effort: "/" or unreadable parents just lose re-arming
	watching := w.Add(dir) == nil
	go func() {
		retry := time.NewTicker(time.Second)
		defer retry.Stop()
		for {
			select {
			case ev, ok := <-w.Events:
				if !ok {
					return
				}
				if ev.Name == dir && ev.Has(fsnotify.Remove|fsnotify.Rename) {
					watching = false
				}
				if ev.Name == dir || filepath.Dir(ev.Name) == dir && !ignore(filepath.Base(ev.Name)) {
					watching = watching || w.Add(dir) == nil
					notify(changed)
				}
			case err, ok := <-w.Errors:
				if !ok {
					return
				}
				log.Error(err, "fsnotify")
			case <-retry.C:
				if !watching && w.Add(dir) == nil {
					watching = true
					notify(changed)
				}
			}
		}
	}()
	return nil
}

// notify never blocks: one pending signal is enough, the reader rereads the
// file anyway.
func notify(ch chan<- struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}
