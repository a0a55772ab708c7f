// Package agent is the program inside a backup Job. This file holds the part that owns
// the volume: a backup is written into a hidden temporary directory, every file
// compressed and checksummed in one pass, then made durable (fsync of files and
// directories) and renamed into place without ever replacing a completed backup.
package agent

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/klauspost/compress/zstd"
	"github.com/klauspost/pgzip"
	"golang.org/x/sys/unix"
)

// ManifestName is the manifest's file name inside a backup directory.
const ManifestName = "manifest.json"

// FormatVersion is the version of the backup directory layout and manifest.
const FormatVersion = 1

// Compression algorithms, as in the API's dump.compression.
const (
	Zstd = "zstd"
	Gzip = "gzip"
	None = "none"
)

// Extension is the file name suffix of an algorithm.
func Extension(compression string) string {
	switch compression {
	case Zstd:
		return ".zst"
	case Gzip:
		return ".gz"
	}
	return ""
}

// ErrExists is returned when the backup's directory already exists: a completed backup
// is never overwritten.
var ErrExists = errors.New("the backup directory already exists")

// FileInfo is one file of a backup, as the manifest records it.
type FileInfo struct {
	Name              string `json:"name"`
	Compression       string `json:"compression"`
	Bytes             int64  `json:"bytes"`
	UncompressedBytes int64  `json:"uncompressedBytes"`
	SHA256            string `json:"sha256"`
}

// Artifact is a backup being written. Begin it, Create its files, then Commit or Abort.
type Artifact struct {
	final string
	tmp   string

	mu    sync.Mutex
	files []FileInfo
	open  map[string]bool
	done  bool

	// raw and disk count the bytes written so far, before and after compression, over
	// every file: what progress reports read while the files are written.
	raw, disk atomic.Int64
}

// Written is the number of bytes written so far over every file, before and after
// compression. It is safe to call while files are being written.
func (a *Artifact) Written() (raw, disk int64) { return a.raw.Load(), a.disk.Load() }

// safeName is what a file name or a path element may look like.
var safeName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,251}$`)

// Begin starts the backup <root>/<namespace>/<name>: it fails with ErrExists when that
// directory exists, and creates a hidden temporary directory beside it.
func Begin(root, namespace, name string) (*Artifact, error) {
	for _, el := range []string{namespace, name} {
		if !safeName.MatchString(el) {
			return nil, fmt.Errorf("%q is not a safe directory name", el)
		}
	}
	parent := filepath.Join(root, namespace)
	final := filepath.Join(parent, name)
	if _, err := os.Lstat(final); err == nil {
		return nil, fmt.Errorf("%w: %s", ErrExists, final)
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("checking %s: %w", final, err)
	}
	if err := os.MkdirAll(parent, 0o700); err != nil {
		return nil, fmt.Errorf("creating %s: %w", parent, err)
	}
	var suffix [6]byte
	if _, err := rand.Read(suffix[:]); err != nil {
		return nil, err
	}
	tmp := filepath.Join(parent, "."+name+".partial-"+hex.EncodeToString(suffix[:]))
	if err := os.Mkdir(tmp, 0o700); err != nil {
		return nil, fmt.Errorf("creating the temporary directory: %w", err)
	}
	return &Artifact{final: final, tmp: tmp, open: map[string]bool{}}, nil
}

// Dir is where the backup will be once committed.
func (a *Artifact) Dir() string { return a.final }

// Create opens a new file of the backup. What is written to it is compressed with the
// algorithm at level (0: the algorithm's default) and checksummed as it goes to disk.
// The name gets the algorithm's extension.
func (a *Artifact) Create(name, compression string, level int) (*File, error) {
	name += Extension(compression)
	if !safeName.MatchString(name) || name == ManifestName {
		return nil, fmt.Errorf("%q is not a valid backup file name", name)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.done {
		return nil, errors.New("the backup is already committed or aborted")
	}
	if a.open[name] {
		return nil, fmt.Errorf("%s is already open", name)
	}
	for _, f := range a.files {
		if f.Name == name {
			return nil, fmt.Errorf("%s already written", name)
		}
	}
	path := filepath.Join(a.tmp, name)
	fh, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600) //nolint:gosec // G304: a checked name in our own directory
	if err != nil {
		return nil, fmt.Errorf("creating %s: %w", name, err)
	}
	f := &File{a: a, name: name, compression: compression, fh: fh, sum: sha256.New()}
	f.disk = &countingWriter{w: io.MultiWriter(fh, f.sum), total: &a.disk}
	if f.enc, err = newEncoder(f.disk, compression, level); err != nil {
		_ = fh.Close()
		return nil, err
	}
	a.open[name] = true
	return f, nil
}

// newEncoder returns the compressor writing into w.
func newEncoder(w io.Writer, compression string, level int) (io.WriteCloser, error) {
	switch compression {
	case Zstd:
		// A 4 MiB window: 7 MiB less memory than the 8 MiB default for files 0.2% larger.
		opts := []zstd.EOption{zstd.WithEncoderConcurrency(runtime.GOMAXPROCS(0)), zstd.WithWindowSize(4 << 20)}
		if level > 0 {
			opts = append(opts, zstd.WithEncoderLevel(zstd.EncoderLevelFromZstd(level)))
		} else {
			// The default: klauspost's fastest level keeps up with `mariadb-dump | zstd -T0 -3`
			// on two cores, with files about 3% larger (docs/benchmarks.md); its default level,
			// like zstd -3, was 0.7x as fast there.
			opts = append(opts, zstd.WithEncoderLevel(zstd.SpeedFastest))
		}
		return zstd.NewWriter(w, opts...)
	case Gzip:
		if level == 0 {
			level = pgzip.DefaultCompression
		}
		gw, err := pgzip.NewWriterLevel(w, level)
		if err != nil {
			return nil, fmt.Errorf("gzip level %d: %w", level, err)
		}
		return gw, nil
	case None:
		return nopCloser{w}, nil
	}
	return nil, fmt.Errorf("unknown compression %q (want zstd, gzip or none)", compression)
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }

type countingWriter struct {
	w     io.Writer
	n     int64
	total *atomic.Int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	c.total.Add(int64(n))
	return n, err
}

// File is one file being written into an Artifact.
type File struct {
	a           *Artifact
	name        string
	compression string
	fh          *os.File
	sum         hash.Hash
	disk        *countingWriter
	enc         io.WriteCloser
	raw         int64
	closed      bool
}

// Write compresses p into the file.
func (f *File) Write(p []byte) (int, error) {
	n, err := f.enc.Write(p)
	f.raw += int64(n)
	f.a.raw.Add(int64(n))
	return n, err
}

// Close flushes the compressor, makes the file durable and records it for the manifest.
func (f *File) Close() error {
	if f.closed {
		return nil
	}
	f.closed = true
	err := errors.Join(f.enc.Close(), f.fh.Sync(), f.fh.Close())
	f.a.mu.Lock()
	defer f.a.mu.Unlock()
	delete(f.a.open, f.name)
	if err != nil {
		return fmt.Errorf("writing %s: %w", f.name, err)
	}
	f.a.files = append(f.a.files, FileInfo{
		Name: f.name, Compression: f.compression, Bytes: f.disk.n, UncompressedBytes: f.raw,
		SHA256: hex.EncodeToString(f.sum.Sum(nil)),
	})
	return nil
}

// Files are the files closed so far, in the order they were closed.
func (a *Artifact) Files() []FileInfo {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]FileInfo(nil), a.files...)
}

// Commit writes the manifest (its Files and FormatVersion are filled here), makes
// everything durable and renames the temporary directory into place. It fails, leaving
// the temporary directory for Abort, when a file is still open or the final directory
// appeared meanwhile.
func (a *Artifact) Commit(m *Manifest) (string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.done {
		return "", errors.New("the backup is already committed or aborted")
	}
	if len(a.open) > 0 {
		return "", fmt.Errorf("%d files are still open", len(a.open))
	}
	m.FormatVersion = FormatVersion
	m.Files = append([]FileInfo(nil), a.files...)
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return "", err
	}
	if err := writeDurable(filepath.Join(a.tmp, ManifestName), append(data, '\n')); err != nil {
		return "", err
	}
	if err := syncDir(a.tmp); err != nil {
		return "", err
	}
	// RENAME_NOREPLACE: even a backup created between Begin and now is never replaced.
	if err := unix.Renameat2(unix.AT_FDCWD, a.tmp, unix.AT_FDCWD, a.final, unix.RENAME_NOREPLACE); err != nil {
		if errors.Is(err, unix.EEXIST) {
			return "", fmt.Errorf("%w: %s", ErrExists, a.final)
		}
		return "", fmt.Errorf("moving the backup into place: %w", err)
	}
	a.done = true
	if err := syncDir(filepath.Dir(a.final)); err != nil {
		return a.final, err
	}
	return a.final, nil
}

// Abort removes the temporary directory and everything in it. It does nothing after a
// successful Commit, so `defer a.Abort()` is safe.
func (a *Artifact) Abort() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.done {
		return nil
	}
	a.done = true
	return os.RemoveAll(a.tmp)
}

func writeDurable(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600) //nolint:gosec // G304: our own directory
	if err != nil {
		return err
	}
	_, werr := f.Write(data)
	return errors.Join(werr, f.Sync(), f.Close())
}

func syncDir(dir string) error {
	d, err := os.Open(dir) //nolint:gosec // G304: our own directory
	if err != nil {
		return err
	}
	return errors.Join(d.Sync(), d.Close())
}
