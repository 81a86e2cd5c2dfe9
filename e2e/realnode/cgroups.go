package realnode

import (
	"crypto/x509"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

const (
	x509ServerAuth = x509.ExtKeyUsageServerAuth
	x509ClientAuth = x509.ExtKeyUsageClientAuth
)

const cgroupFS = "/sys/fs/cgroup"

// hierarchies lists the machine's cgroup hierarchies (v1 controllers, name=systemd, unified),
// read, never mounted or changed: the kubelet runs with the cgroupfs driver below cgroupRoot.
func hierarchies() ([]string, error) {
	entries, err := os.ReadDir(cgroupFS)
	if err != nil {
		return nil, err
	}
	var hs []string
	for _, e := range entries {
		p := filepath.Join(cgroupFS, e.Name())
		if fi, err := os.Lstat(p); err == nil && fi.IsDir() {
			hs = append(hs, p)
		}
	}
	return hs, nil
}

// makeCgroups creates the node's cgroupRoot in every hierarchy. cpuset starts empty in a new v1
// cgroup: copy the parent's cpus and mems, or no task can join it.
func (n *Node) makeCgroups() error {
	hs, err := hierarchies()
	if err != nil {
		return err
	}
	for _, h := range hs {
		dir := filepath.Join(h, n.cgroupRoot)
		if err := os.Mkdir(dir, 0o755); err != nil && !os.IsExist(err) {
			return fmt.Errorf("creating cgroup %s: %w", dir, err)
		}
		if filepath.Base(h) == "cpuset" {
			for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
				b, err := os.ReadFile(filepath.Join(h, f))
				if err != nil {
					return err
				}
				if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
					return fmt.Errorf("%s/%s: %w", dir, f, err)
				}
			}
		}
	}
	return nil
}

// removeCgroups waits until no task is left below cgroupRoot, then removes the tree, deepest first.
func (n *Node) removeCgroups(timeout time.Duration) error {
	hs, err := hierarchies()
	if err != nil {
		return err
	}
	deadline := time.Now().Add(timeout)
	for _, h := range hs {
		root := filepath.Join(h, n.cgroupRoot)
		if _, err := os.Stat(root); err != nil {
			continue
		}
		for {
			dirs := cgroupDirs(root)
			for _, d := range dirs {
				_ = os.Remove(d)
			}
			if _, err := os.Stat(root); os.IsNotExist(err) {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("cgroup %s still has tasks after %v: %s", root, timeout, strings.Join(cgroupDirs(root), " "))
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	return nil
}

// cgroupDirs lists root and its descendants, deepest first.
func cgroupDirs(root string) []string {
	var dirs []string
	_ = filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			dirs = append(dirs, p)
		}
		return nil
	})
	sort.Slice(dirs, func(i, j int) bool { return strings.Count(dirs[i], "/") > strings.Count(dirs[j], "/") })
	return dirs
}
