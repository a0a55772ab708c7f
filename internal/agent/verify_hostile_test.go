package agent

// `agent verify` and `agent remove` read a volume others write to: links, FIFOs, devices,
// oversized manifests and decompression bombs must be refused quickly, with bounded
// memory, and a cancelled context must stop a long verify.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
)

// goodBackup commits a small zstd backup and returns its directory and manifest.
func goodBackup(t *testing.T) (string, *Manifest) {
	t.Helper()
	root := t.TempDir()
	a, err := Begin(root, "openstack", "b1")
	if err != nil {
		t.Fatal(err)
	}
	write(t, a, "nova.sql", Zstd, sqlLike(64<<10))
	dir, err := a.Commit(&Manifest{Backup: Identity{Namespace: "openstack", Name: "b1", UID: "uid-1"},
		StartTime: time.Unix(0, 0).UTC(), Options: Options{Method: "Logical", Compression: Zstd}})
	if err != nil {
		t.Fatal(err)
	}
	m, err := Verify(t.Context(), dir)
	if err != nil {
		t.Fatal(err)
	}
	return dir, m
}

// rewriteManifest writes m as dir's manifest.
func rewriteManifest(t *testing.T, dir string, m *Manifest) {
	t.Helper()
	data, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, ManifestName), data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// replaceWith replaces dir/name by what make creates there.
func replaceWith(t *testing.T, dir, name string, make func(path string) error) {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
	if err := make(p); err != nil {
		t.Fatal(err)
	}
}

func TestVerifyHostileVolume(t *testing.T) {
	outside := filepath.Join(t.TempDir(), "elsewhere.sql.zst")
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, dir string, m *Manifest)
		want  string
	}{
		{"a data file that is a link to a matching file outside", func(t *testing.T, dir string, m *Manifest) {
			data, err := os.ReadFile(filepath.Join(dir, m.Files[0].Name)) //nolint:gosec // G304: the test's file
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(outside, data, 0o600); err != nil { //nolint:gosec // G703: the test's own temporary file
				t.Fatal(err)
			}
			replaceWith(t, dir, m.Files[0].Name, func(p string) error { return os.Symlink(outside, p) })
		}, "symbolic link"},
		{"a data file that is a link to /dev/zero", func(t *testing.T, dir string, m *Manifest) {
			replaceWith(t, dir, m.Files[0].Name, func(p string) error { return os.Symlink("/dev/zero", p) })
		}, "symbolic link"},
		{"a data file that is a FIFO", func(t *testing.T, dir string, m *Manifest) {
			replaceWith(t, dir, m.Files[0].Name, func(p string) error { return syscall.Mkfifo(p, 0o600) })
		}, "not a regular file"},
		{"the manifest is a link to /dev/zero", func(t *testing.T, dir string, m *Manifest) {
			replaceWith(t, dir, ManifestName, func(p string) error { return os.Symlink("/dev/zero", p) })
		}, "symbolic link"},
		{"the manifest is a FIFO", func(t *testing.T, dir string, m *Manifest) {
			replaceWith(t, dir, ManifestName, func(p string) error { return syscall.Mkfifo(p, 0o600) })
		}, "not a regular file"},
		{"a manifest larger than the cap", func(t *testing.T, dir string, m *Manifest) {
			big := bytes.Repeat([]byte(" "), MaxManifestBytes+1)
			if err := os.WriteFile(filepath.Join(dir, ManifestName), big, 0o600); err != nil {
				t.Fatal(err)
			}
		}, "larger than"},
		{"a name with a path in the manifest", func(t *testing.T, dir string, m *Manifest) {
			m.Files[0].Name = "../../etc/passwd"
			rewriteManifest(t, dir, m)
		}, "unsafe file name"},
		{"a decompression bomb: 64 MiB of zeros the manifest calls 1 KiB", func(t *testing.T, dir string, m *Manifest) {
			var buf bytes.Buffer
			enc, err := zstd.NewWriter(&buf)
			if err != nil {
				t.Fatal(err)
			}
			zeros := make([]byte, 1<<20)
			for range 64 {
				if _, err := enc.Write(zeros); err != nil {
					t.Fatal(err)
				}
			}
			if err := enc.Close(); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, m.Files[0].Name), buf.Bytes(), 0o600); err != nil {
				t.Fatal(err)
			}
			sum := sha256.Sum256(buf.Bytes())
			m.Files[0].Bytes, m.Files[0].SHA256, m.Files[0].UncompressedBytes = int64(buf.Len()), hex.EncodeToString(sum[:]), 1024
			rewriteManifest(t, dir, m)
		}, "decompresses to more than the 1024 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir, m := goodBackup(t)
			tc.setup(t, dir, m)
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			start := time.Now()
			_, err := Verify(ctx, dir)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Verify: %v, want an error saying %q", err, tc.want)
			}
			// Refused early, not after reading what it refuses; loose for a loaded machine.
			if took := time.Since(start); took > 10*time.Second {
				t.Errorf("refused after %v", took)
			}
		})
	}
}

// TestVerifyCancelled: a verify whose context ends stops at once.
func TestVerifyCancelled(t *testing.T) {
	dir, _ := goodBackup(t)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := Verify(ctx, dir); err == nil || !strings.Contains(err.Error(), "context canceled") {
		t.Fatalf("Verify with a cancelled context: %v", err)
	}
}

// TestVerifyCommandStopsOnSIGTERM: the real binary, verifying a backup whose data file
// is very large, exits promptly on the first SIGTERM.
func TestVerifyCommandStopsOnSIGTERM(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "ocb")
	build := exec.CommandContext(t.Context(), "go", "build", "-o", bin, "../../cmd") //nolint:gosec // G204: the repo's own command
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	dir, m := goodBackup(t)
	// A 64 GiB sparse data file of zeros, declared uncompressed: reading and hashing it
	// takes far longer than the bound below, even at several GB/s.
	f := &m.Files[0]
	p := filepath.Join(dir, f.Name)
	if err := os.Truncate(p, 64<<30); err != nil {
		t.Fatal(err)
	}
	f.Compression, f.Bytes, f.UncompressedBytes, f.SHA256 = None, 64<<30, 64<<30, strings.Repeat("0", 64)
	m.Options.Compression = None
	rewriteManifest(t, dir, m)

	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "agent", "verify", dir) //nolint:gosec // G204: the binary just built
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	err := cmd.Wait()
	if err == nil {
		t.Fatal("verify exited 0 after SIGTERM")
	}
	if took := time.Since(start); took > 10*time.Second { // loose for a loaded machine
		t.Errorf("verify exited %v after SIGTERM", took)
	}
}
