package netlab

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// FRRVersion is one FRR release line a lab can run: the host's packages (Debian 12's FRR 8.4), or
// a Debian root filesystem built by hack/frr-root.sh (Debian 13's FRR 10.3), whose daemons, vtysh
// and frr-reload.py run with chroot, as the FRR image of that version runs them in a pod.
type FRRVersion struct {
	Name string // "8.4", "10.3": FRR's major.minor, for test names
	Root string // "" = the host's packages; else the root directory to chroot into
}

// HostFRR is the host's FRR (Debian 12: 8.4.4).
var HostFRR = &FRRVersion{Name: "8.4"}

// String is the version's name, so subtests read "frr8.4", "frr10.3".
func (v *FRRVersion) String() string { return "frr" + v.Name }

// Chrooted reports whether the version runs from a root directory.
func (v *FRRVersion) Chrooted() bool { return v.Root != "" }

// HasMgmtd: FRR 9.0 and later always start mgmtd, which zebra and staticd talk to.
func (v *FRRVersion) HasMgmtd() bool {
	_, err := os.Stat(filepath.Join(v.Root, FRRDir, "mgmtd"))
	return err == nil
}

// daemons are what StartFRR starts, mgmtd first where the version has it.
func (v *FRRVersion) daemons() []string {
	if v.HasMgmtd() {
		return append([]string{"mgmtd"}, Daemons...)
	}
	return Daemons
}

// HostPath is where a path seen by the version's processes is on the host.
func (v *FRRVersion) HostPath(p string) string {
	if !v.Chrooted() {
		return p
	}
	return filepath.Join(v.Root, p)
}

// Command prefixes a command of the version's root (vtysh, a daemon) with chroot when needed.
func (v *FRRVersion) Command(args ...string) []string {
	if !v.Chrooted() {
		return args
	}
	return append([]string{"chroot", v.Root}, args...)
}

// ids returns user frr's uid and gid as the version's root defines them (they differ from the
// host's: the daemons drop privileges to the root's own user frr).
func (v *FRRVersion) ids() (int, int, error) {
	uid, err := lookupID(v.HostPath("/etc/passwd"), "frr", 2)
	if err != nil {
		return 0, 0, err
	}
	gid, err := lookupID(v.HostPath("/etc/group"), "frr", 2)
	return uid, gid, err
}

func lookupID(file, name string, field int) (int, error) {
	f, err := os.Open(file)
	if err != nil {
		return 0, fmt.Errorf("user frr missing (is the frr package installed?): %w", err)
	}
	defer func() { _ = f.Close() }()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if fs := strings.Split(sc.Text(), ":"); len(fs) > field && fs[0] == name {
			return strconv.Atoi(fs[field])
		}
	}
	return 0, fmt.Errorf("no %s in %s (is the frr package installed?)", name, file)
}

// FRRRootEnv names a root to use instead of the newest trixie root in the cache.
const FRRRootEnv = "ROUTELB_FRR10_ROOT"

// FRR10 is Debian 13's FRR 10.x from the root hack/frr-root.sh builds into the cache
// ($ROUTELB_CACHE/frr-root/trixie-*, or $ROUTELB_FRR10_ROOT). It fails the test with the command
// to run when the root is missing (`make deps` builds it).
func FRR10(t testing.TB) *FRRVersion {
	t.Helper()
	v, err := findFRR10()
	if err != nil {
		t.Fatalf("netlab: %v", err)
	}
	return v
}

func findFRR10() (*FRRVersion, error) {
	dir := os.Getenv(FRRRootEnv)
	if dir == "" {
		cache := os.Getenv("ROUTELB_CACHE")
		if cache == "" {
			cache = "/var/cache/routelb"
		}
		dirs, _ := filepath.Glob(filepath.Join(cache, "frr-root", "trixie-*", "VERSION"))
		if len(dirs) == 0 {
			return nil, fmt.Errorf("no FRR 10 root in %s/frr-root: run hack/frr-root.sh trixie (part of make deps)", cache)
		}
		sort.Slice(dirs, func(i, j int) bool { return modTime(dirs[i]) > modTime(dirs[j]) })
		dir = filepath.Dir(dirs[0])
	}
	b, err := os.ReadFile(filepath.Join(dir, "VERSION"))
	if err != nil {
		return nil, fmt.Errorf("FRR 10 root %s incomplete (%w): run hack/frr-root.sh trixie", dir, err)
	}
	name := strings.Join(strings.SplitN(strings.TrimSpace(string(b)), ".", 3)[:2], ".") // 10.3-3+deb13u1 -> 10.3
	name, _, _ = strings.Cut(name, "-")
	v := &FRRVersion{Name: name, Root: filepath.Join(dir, "root")}
	if _, err := os.Stat(v.HostPath(filepath.Join(FRRDir, "bgpd"))); err != nil {
		return nil, fmt.Errorf("FRR 10 root %s has no bgpd (%w): run hack/frr-root.sh trixie", dir, err)
	}
	return v, nil
}

func modTime(p string) int64 {
	st, err := os.Stat(p)
	if err != nil {
		return 0
	}
	return st.ModTime().UnixNano()
}

// FRRVersions are the FRR release lines every FRR test runs against: the host's 8.4 and the
// root's 10.x. Under -short only the host's.
func FRRVersions(t testing.TB) []*FRRVersion {
	t.Helper()
	if testing.Short() {
		return []*FRRVersion{HostFRR}
	}
	return []*FRRVersion{HostFRR, FRR10(t)}
}

// ForEachFRR runs f as one subtest per FRR version.
func ForEachFRR(t *testing.T, f func(t *testing.T, v *FRRVersion)) {
	t.Helper()
	for _, v := range FRRVersions(t) {
		t.Run(v.String(), func(t *testing.T) { f(t, v) })
	}
}

// ReloaderTools are the vtysh and frr-reload.py an in-process reloader (reloader.FRR) uses for
// this instance. On the host they are the host's; for a chrooted version they are wrapper
// scripts that run the root's own tools with chroot (a test seam: in a pod the reloader runs
// inside the FRR image), mapping host paths inside the root to what the root sees and
// frr-reload.py's --bindir to the root's /usr/bin. Files the reloader hands them must be inside
// the root: use ScratchDir.
func (f *FRR) ReloaderTools() (vtysh, frrReload string) {
	f.lab.t.Helper()
	if !f.Version.Chrooted() {
		return "vtysh", filepath.Join(FRRDir, "frr-reload.py")
	}
	dir := filepath.Join(f.lab.Dir, "bin-"+f.Pathspace)
	vtysh, frrReload = filepath.Join(dir, "vtysh"), filepath.Join(dir, "frr-reload.py")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		f.lab.t.Fatalf("netlab: %v", err)
	}
	for path, target := range map[string]string{vtysh: "/usr/bin/vtysh", frrReload: filepath.Join(FRRDir, "frr-reload.py")} {
		if err := os.WriteFile(path, []byte(wrapperScript(f.Version.Root, target)), 0o755); err != nil {
			f.lab.t.Fatalf("netlab: %v", err)
		}
	}
	return vtysh, frrReload
}

func wrapperScript(root, target string) string {
	return fmt.Sprintf(`#!/bin/sh
# netlab: runs %[2]s of the FRR root %[1]s with chroot; host paths inside the root are mapped.
R=%[1]s
prev=
for a do
  shift
  case "$prev" in --bindir) a=/usr/bin ;; esac
  case "$a" in "$R"/*) a=${a#"$R"} ;; esac
  set -- "$@" "$a"
  prev=$a
done
exec chroot "$R" %[2]s "$@"
`, root, target)
}

// ScratchDir is a new private directory for the reloader's scratch files, on the host, that the
// instance's tools can read too (inside the root for a chrooted version); Stop removes it.
func (f *FRR) ScratchDir() string {
	f.lab.t.Helper()
	base := f.lab.Dir
	if f.Version.Chrooted() {
		base = f.Version.HostPath(f.instanceDir())
	}
	dir, err := os.MkdirTemp(base, "scratch-")
	if err != nil {
		f.lab.t.Fatalf("netlab: %v", err)
	}
	return dir
}
