package daemonfile

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// leftovers lists the directory's temporary files.
func leftovers(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range es {
		if strings.Contains(e.Name(), tempInfix) {
			out = append(out, e.Name())
		}
	}
	return out
}

func TestWriteFile(t *testing.T) {
	for _, c := range []struct {
		name  string
		setup func(t *testing.T, dir string) // what the directory holds before the write
	}{
		{"new file", func(*testing.T, string) {}},
		{"replaces an older file, widening mode narrowed", func(t *testing.T, dir string) {
			if err := os.WriteFile(filepath.Join(dir, "f.json"), []byte("old content, longer than the new"), 0o644); err != nil {
				t.Fatal(err)
			}
		}},
		{"a crashed writer's half-written temporary file is not reused", func(t *testing.T, dir string) {
			if err := os.WriteFile(filepath.Join(dir, ".f.json"+tempInfix+"123"), []byte("hal"), 0o644); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			c.setup(t, dir)
			before := leftovers(t, dir)
			path := filepath.Join(dir, "f.json")
			if err := WriteFile(path, []byte("new\n")); err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(path)
			if err != nil || string(b) != "new\n" {
				t.Fatalf("content %q, %v: want the new content whole", b, err)
			}
			fi, err := os.Stat(path)
			if err != nil || fi.Mode().Perm() != Mode {
				t.Fatalf("mode %v, %v: want %o", fi.Mode(), err, Mode)
			}
			if got := leftovers(t, dir); len(got) != len(before) {
				t.Errorf("temporary files %v after the write, %v before: WriteFile must remove its own", got, before)
			}
		})
	}
}

// TestWriteFileFailureKeepsOld: a write that cannot complete leaves the old file and no temporary.
func TestWriteFileFailureKeepsOld(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f.json")
	if err := os.Mkdir(path, 0o700); err != nil { // rename of a file over a directory fails
		t.Fatal(err)
	}
	err := WriteFile(path, []byte("x"))
	if err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("got %v, want an error naming %s", err, path)
	}
	if fi, err := os.Stat(path); err != nil || !fi.IsDir() {
		t.Errorf("the target changed: %v, %v", fi, err)
	}
	if got := leftovers(t, dir); len(got) != 0 {
		t.Errorf("temporary files left: %v", got)
	}
	if err := WriteFile(filepath.Join(dir, "missing", "f.json"), nil); err == nil {
		t.Error("a missing directory: want an error")
	}
}

// TestWriteFileConcurrent: writers racing on one file never see each other's temporary files, and
// the file always holds one writer's content whole.
func TestWriteFileConcurrent(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f.json")
	const writers, rounds = 8, 50
	body := func(w int) []byte { return bytes.Repeat([]byte{byte('a' + w)}, 4096+w) }
	var wg sync.WaitGroup
	errs := make(chan error, writers*rounds)
	stop := make(chan struct{})
	readerDone := make(chan error, 1)
	go func() { // reads while the writers write: every read is some writer's content whole
		for {
			select {
			case <-stop:
				readerDone <- nil
				return
			default:
			}
			b, err := os.ReadFile(path)
			if os.IsNotExist(err) {
				continue
			}
			if err != nil {
				readerDone <- err
				return
			}
			if w := int(b[0] - 'a'); w < 0 || w >= writers || !bytes.Equal(b, body(w)) {
				readerDone <- fmt.Errorf("read %d bytes that are no writer's content", len(b))
				return
			}
		}
	}()
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range rounds {
				errs <- WriteFile(path, body(w))
			}
		}()
	}
	wg.Wait()
	close(stop)
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := <-readerDone; err != nil {
		t.Fatal(err)
	}
	if got := leftovers(t, dir); len(got) != 0 {
		t.Errorf("temporary files left: %v", got)
	}
}

func TestIsTempOf(t *testing.T) {
	for _, c := range []struct {
		name, target string
		want         bool
	}{
		{".sessions.json.tmp-123", "sessions.json", true},
		{"sessions.json", "sessions.json", false},
		{".frr.conf.tmp-9", "sessions.json", false},
		{".sessions.json.tmp", "sessions.json", false},
	} {
		if got := IsTempOf(c.name, c.target); got != c.want {
			t.Errorf("IsTempOf(%q, %q) = %v, want %v", c.name, c.target, got, c.want)
		}
	}
}
