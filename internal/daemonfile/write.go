package daemonfile

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// tempInfix sits between a file's name and the random part of its temporary files.
const tempInfix = ".tmp-"

// WriteFile replaces path with data so that a reader sees the old content or the new, never part
// of it, and the new content survives a crash once WriteFile returns: a temporary file of a unique
// name in the same directory (so concurrent writers and a crashed writer's leftover never share
// one), written, synced, given Mode, renamed over path, then the directory synced (the rename is
// only durable then).
func WriteFile(path string, data []byte) error {
	dir, base := filepath.Dir(path), filepath.Base(path)
	tmp, err := os.CreateTemp(dir, "."+base+tempInfix+"*")
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	err = fill(tmp, data)
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		_ = os.Remove(tmp.Name())
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := syncDir(dir); err != nil {
		return fmt.Errorf("writing %s: syncing its directory: %w", path, err)
	}
	return nil
}

// fill writes, restricts and syncs the temporary file, and closes it.
func fill(f *os.File, data []byte) error {
	_, err := f.Write(data)
	if err == nil {
		err = f.Chmod(Mode) // CreateTemp's 0600 already, whatever the umask: said, not assumed
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// IsTempOf reports whether name (a base name) is one of WriteFile's temporary files for target.
func IsTempOf(name, target string) bool {
	return strings.HasPrefix(name, "."+target+tempInfix)
}
