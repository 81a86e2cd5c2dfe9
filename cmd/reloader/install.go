package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// install copies the running binary to dst (mode 0755, written beside it and renamed into place),
// so the chart's init container needs no cp in the FROM scratch image: `reloader install DST`.
func install(dst string) error {
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("install: finding this binary: %w", err)
	}
	in, err := os.Open(self)
	if err != nil {
		return fmt.Errorf("install: %w", err)
	}
	defer func() { _ = in.Close() }()
	tmp, err := os.CreateTemp(filepath.Dir(dst), ".reloader-")
	if err != nil {
		return fmt.Errorf("install: %w", err)
	}
	defer func() { _ = os.Remove(tmp.Name()) }() // gone once renamed; removes the partial copy otherwise
	if _, err := io.Copy(tmp, in); err != nil {
		_ = tmp.Close()
		return fmt.Errorf("install: copying to %s: %w", dst, err)
	}
	if err := tmp.Chmod(0o755); err != nil {
		_ = tmp.Close()
		return fmt.Errorf("install: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("install: %w", err)
	}
	if err := os.Rename(tmp.Name(), dst); err != nil {
		return fmt.Errorf("install: %w", err)
	}
	fmt.Fprintln(os.Stderr, "reloader: installed", dst)
	return nil
}
