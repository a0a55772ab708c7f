package agent

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// sqlLike returns n bytes that compress like a SQL dump (repeated statements, varying values).
func sqlLike(n int) []byte {
	r := rand.New(rand.NewPCG(1, 2)) //nolint:gosec // G404: repeatable test data, not a secret
	var b bytes.Buffer
	for b.Len() < n {
		fmt.Fprintf(&b, "INSERT INTO `instances` VALUES (%d,'%08x-%04x','ACTIVE',%d,'host-%d');\n",
			r.IntN(1e9), r.Uint32(), r.IntN(1<<16), r.IntN(4096), r.IntN(64))
	}
	return b.Bytes()[:n]
}

func write(t *testing.T, a *Artifact, name, compression string, data []byte) {
	t.Helper()
	f, err := a.Create(name, compression, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestArtifactRoundTrip(t *testing.T) {
	for _, c := range []string{Zstd, Gzip, None} {
		t.Run(c, func(t *testing.T) {
			root := t.TempDir()
			a, err := Begin(root, "openstack", "nightly-1")
			if err != nil {
				t.Fatal(err)
			}
			data := sqlLike(3 << 20)
			write(t, a, "nova.sql", c, data)
			write(t, a, "users.sql", c, []byte("CREATE USER 'nova'@'%';\n"))
			dir, err := a.Commit(&Manifest{Backup: Identity{Namespace: "openstack", Name: "nightly-1"}, StartTime: time.Unix(0, 0).UTC(),
				Options: Options{Method: "Logical", Compression: c}})
			if err != nil {
				t.Fatal(err)
			}
			if dir != filepath.Join(root, "openstack", "nightly-1") {
				t.Fatalf("committed to %s", dir)
			}
			m, err := Verify(t.Context(), dir)
			if err != nil {
				t.Fatalf("verify: %v", err)
			}
			if len(m.Files) != 2 || m.Files[0].Name != "nova.sql"+Extension(c) || m.Files[0].UncompressedBytes != int64(len(data)) {
				t.Fatalf("manifest files: %+v", m.Files)
			}
			if c != None && m.Files[0].Bytes*3 > m.Files[0].UncompressedBytes {
				t.Errorf("%s compressed %d bytes to %d", c, m.Files[0].UncompressedBytes, m.Files[0].Bytes)
			}
			entries, err := os.ReadDir(filepath.Join(root, "openstack"))
			if err != nil || len(entries) != 1 {
				t.Errorf("want only the backup directory left, got %v %v", entries, err)
			}
		})
	}
}

func TestVerifyFindsDamage(t *testing.T) {
	cases := []struct {
		name   string
		damage func(t *testing.T, dir string)
		want   string
	}{
		{"flipped byte", func(t *testing.T, dir string) { flip(t, filepath.Join(dir, "db.sql.zst"), 100) }, "db.sql.zst: "},
		{"truncated", func(t *testing.T, dir string) {
			if err := os.Truncate(filepath.Join(dir, "db.sql.zst"), 10); err != nil {
				t.Fatal(err)
			}
		}, "the manifest says"},
		{"missing file", func(t *testing.T, dir string) { rm(t, filepath.Join(dir, "db.sql.zst")) }, "no such file"},
		{"missing manifest", func(t *testing.T, dir string) { rm(t, filepath.Join(dir, ManifestName)) }, "reading the manifest"},
		{"tampered manifest", func(t *testing.T, dir string) {
			p := filepath.Join(dir, ManifestName)
			b, _ := os.ReadFile(p) //nolint:gosec // G304: test file
			if err := os.WriteFile(p, bytes.Replace(b, []byte(`"formatVersion": 1`), []byte(`"formatVersion": 9`), 1), 0o600); err != nil {
				t.Fatal(err)
			}
		}, "format version 9"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a, err := Begin(t.TempDir(), "ns", "b")
			if err != nil {
				t.Fatal(err)
			}
			write(t, a, "db.sql", Zstd, sqlLike(1<<20))
			dir, err := a.Commit(&Manifest{})
			if err != nil {
				t.Fatal(err)
			}
			tc.damage(t, dir)
			if _, err := Verify(t.Context(), dir); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("verify: %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func flip(t *testing.T, path string, at int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0) //nolint:gosec // G304: test file
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, at); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0xff
	if _, err := f.WriteAt(b, at); err != nil {
		t.Fatal(err)
	}
}

func rm(t *testing.T, path string) {
	t.Helper()
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
}

func TestArtifactNeverOverwrites(t *testing.T) {
	root := t.TempDir()
	a, err := Begin(root, "ns", "b")
	if err != nil {
		t.Fatal(err)
	}
	write(t, a, "db.sql", None, []byte("x"))
	// A backup of the same name completed meanwhile (even as an empty directory).
	if err := os.Mkdir(filepath.Join(root, "ns", "b"), 0o750); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Commit(&Manifest{}); !errors.Is(err, ErrExists) {
		t.Fatalf("commit over an existing directory: %v, want ErrExists", err)
	}
	if err := a.Abort(); err != nil {
		t.Fatal(err)
	}
	if _, err := Begin(root, "ns", "b"); !errors.Is(err, ErrExists) {
		t.Fatalf("begin over an existing backup: %v, want ErrExists", err)
	}
	entries, _ := os.ReadDir(filepath.Join(root, "ns"))
	if len(entries) != 1 || entries[0].Name() != "b" {
		t.Errorf("after abort, want only the existing backup, got %v", entries)
	}
}

func TestArtifactRefuses(t *testing.T) {
	root := t.TempDir()
	if _, err := Begin(root, "../etc", "b"); err == nil {
		t.Error("Begin accepted a namespace with ..")
	}
	a, err := Begin(root, "ns", "b")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Create("../x", None, 0); err == nil {
		t.Error("Create accepted a path")
	}
	if _, err := a.Create("db", "lzma", 0); err == nil {
		t.Error("Create accepted an unknown compression")
	}
	f, err := a.Create("db.sql", Zstd, 3)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Commit(&Manifest{}); err == nil || !strings.Contains(err.Error(), "still open") {
		t.Errorf("commit with an open file: %v", err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Create("db.sql", Zstd, 3); err == nil {
		t.Error("Create accepted a name already written")
	}
	if err := a.Abort(); err != nil {
		t.Fatal(err)
	}
	if entries, _ := os.ReadDir(filepath.Join(root, "ns")); len(entries) != 0 {
		t.Errorf("abort left %v", entries)
	}
}

// BenchmarkWrite compares writing a dump-like stream through each algorithm (with the
// SHA-256 in the same pass) to a plain copy to disk, the baseline of the same run.
func BenchmarkWrite(b *testing.B) {
	data := sqlLike(32 << 20)
	b.Run("baseline-plain-copy", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			f, err := os.Create(filepath.Join(b.TempDir(), "x"))
			if err != nil {
				b.Fatal(err)
			}
			if _, err := io.Copy(f, bytes.NewReader(data)); err != nil {
				b.Fatal(err)
			}
			if err := errors.Join(f.Sync(), f.Close()); err != nil {
				b.Fatal(err)
			}
		}
	})
	for _, c := range []string{None, Zstd, Gzip} {
		b.Run(c, func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				a, err := Begin(b.TempDir(), "ns", "b")
				if err != nil {
					b.Fatal(err)
				}
				f, err := a.Create("db.sql", c, 3)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := io.Copy(f, bytes.NewReader(data)); err != nil {
					b.Fatal(err)
				}
				if err := f.Close(); err != nil {
					b.Fatal(err)
				}
				if _, err := a.Commit(&Manifest{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
