package speaker

import (
	"os"
	"path/filepath"
	"testing"
)

// TestConfigFileIsPrivate: the rendered config is written 0600, and a file an older speaker left
// 0644 is narrowed even when its content does not change.
func TestConfigFileIsPrivate(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "frr.conf")
	data := []byte(" neighbor 198.51.100.1 password pw\n")
	assertWrite := func(wantChanged bool) {
		t.Helper()
		changed, err := WriteFileIfChanged(dir, "frr.conf", data)
		if err != nil || changed != wantChanged {
			t.Fatalf("WriteFileIfChanged: changed %v, err %v; want changed %v", changed, err, wantChanged)
		}
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != ConfigFileMode {
			t.Fatalf("%s: mode %o, want %o", path, fi.Mode().Perm(), ConfigFileMode)
		}
	}
	assertWrite(true)
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	assertWrite(false)
}
