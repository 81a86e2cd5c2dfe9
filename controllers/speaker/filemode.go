package speaker

import (
	"fmt"
	"os"
)

// ConfigFileMode is the rendered frr.conf's or bird.conf's mode: it holds the BGP passwords, and
// its one reader, the reloader, runs as root like the speaker.
const ConfigFileMode = 0o600

// restrictMode sets ConfigFileMode on an existing file unless it has it.
func restrictMode(path string) error {
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() == ConfigFileMode {
		return err
	}
	if err := os.Chmod(path, ConfigFileMode); err != nil {
		return fmt.Errorf("restricting %s to mode %o: %w", path, ConfigFileMode, err)
	}
	return nil
}
