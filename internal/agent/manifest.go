package agent

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/klauspost/pgzip"
	"golang.org/x/sys/unix"

	"github.com/overcloud-backup/overcloud-backup-operator/internal/dumpdigest"
)

// Manifest is manifest.json: what a backup holds and how it was made.
type Manifest struct {
	FormatVersion int      `json:"formatVersion"`
	Backup        Identity `json:"backup"`
	// Node is the node the backup was taken from.
	Node string `json:"node,omitempty"`
	// ServerVersion and ToolVersion are the MariaDB server's and the dump tool's versions.
	ServerVersion string `json:"serverVersion,omitempty"`
	ToolVersion   string `json:"toolVersion,omitempty"`
	// Position is the Galera position at the snapshot.
	Position  *Position `json:"position,omitempty"`
	StartTime time.Time `json:"startTime"`
	EndTime   time.Time `json:"endTime"`
	Options   Options   `json:"options"`
	// Files are the data files, in the order they were written.
	Files []FileInfo `json:"files"`
	// Databases are the databases backed up, with their table counts.
	Databases []Database `json:"databases,omitempty"`
	// Tables are the rows and digest of each table a logical backup's dump holds, read
	// from the dump as it was written (internal/dumpdigest); TablesError says why there
	// are none when the dump could not be read so.
	Tables      []dumpdigest.Table `json:"tables,omitempty"`
	TablesError string             `json:"tablesError,omitempty"`
}

// Identity is the OvercloudBackup the backup belongs to.
type Identity struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	UID       string `json:"uid,omitempty"`
}

// Position is a Galera position.
type Position struct {
	ClusterUUID string `json:"clusterUUID"`
	Seqno       int64  `json:"seqno"`
	GTID        string `json:"gtid,omitempty"`
}

// Options are the options the backup was made with.
type Options struct {
	Method           string   `json:"method"`
	Compression      string   `json:"compression"`
	CompressionLevel int      `json:"compressionLevel,omitempty"`
	Desync           bool     `json:"desync"`
	Databases        []string `json:"databases,omitempty"`
}

// Database is one database of a backup.
type Database struct {
	Name   string `json:"name"`
	Tables int    `json:"tables"`
	// DataBytes and IndexBytes are the sizes information_schema gave at the snapshot.
	DataBytes  int64 `json:"dataBytes,omitempty"`
	IndexBytes int64 `json:"indexBytes,omitempty"`
}

// MaxManifestBytes caps the manifest read: a real one lists a few dozen files in a few
// KiB; 16 MiB is thousands of times that, and bounds what a hostile volume makes the
// agent decode.
const MaxManifestBytes = 16 << 20

// openRegular opens dir/name for reading only if it is a regular file reached without
// following a symbolic link: a backup volume is written by others too, and a link, a
// FIFO (blocks forever) or a device (/dev/zero never ends) must not be read as a backup
// file. O_NONBLOCK keeps the open of a FIFO from blocking; it is cleared after the check.
func openRegular(dir, name string) (*os.File, error) {
	if !safeName.MatchString(name) {
		return nil, errors.New("unsafe file name in the manifest")
	}
	fd, err := unix.Open(filepath.Join(dir, name), unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		if errors.Is(err, unix.ELOOP) {
			return nil, errors.New("a symbolic link, not a backup file")
		}
		return nil, &os.PathError{Op: "open", Path: name, Err: err}
	}
	f := os.NewFile(uintptr(fd), filepath.Join(dir, name))
	st, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return nil, err
	}
	if !st.Mode().IsRegular() {
		_ = f.Close()
		return nil, fmt.Errorf("%s, not a regular file", describe(st.Mode()))
	}
	if err := unix.SetNonblock(fd, false); err != nil {
		_ = f.Close()
		return nil, err
	}
	return f, nil
}

// checkDir refuses a backup directory that is a symbolic link or not a directory.
func checkDir(dir string) error {
	st, err := os.Lstat(dir)
	if err != nil {
		return err
	}
	if !st.IsDir() {
		return fmt.Errorf("%s is %s, not a backup directory", dir, describe(st.Mode()))
	}
	return nil
}

// ReadManifest reads a backup directory's manifest (a regular file, at most
// MaxManifestBytes).
func ReadManifest(dir string) (*Manifest, error) {
	if err := checkDir(dir); err != nil {
		return nil, err
	}
	f, err := openRegular(dir, ManifestName)
	if err != nil {
		return nil, fmt.Errorf("reading the manifest: %w", err)
	}
	defer func() { _ = f.Close() }()
	data, err := io.ReadAll(io.LimitReader(f, MaxManifestBytes+1))
	if err != nil {
		return nil, fmt.Errorf("reading the manifest: %w", err)
	}
	if len(data) > MaxManifestBytes {
		return nil, fmt.Errorf("%s is larger than %d bytes: not a manifest this agent wrote", ManifestName, MaxManifestBytes)
	}
	m := &Manifest{}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(m); err != nil {
		return nil, fmt.Errorf("decoding %s: %w", ManifestName, err)
	}
	if m.FormatVersion != FormatVersion {
		return nil, fmt.Errorf("%s has format version %d, this agent reads %d", ManifestName, m.FormatVersion, FormatVersion)
	}
	return m, nil
}

// Verify re-reads every file of the backup in dir and checks its size and SHA-256
// against the manifest, and that it decompresses to the recorded size (never reading
// more than that plus one byte out of the decompressor). It returns the first mismatch,
// and stops when ctx is cancelled.
func Verify(ctx context.Context, dir string) (*Manifest, error) {
	m, err := ReadManifest(dir)
	if err != nil {
		return nil, err
	}
	if len(m.Files) == 0 {
		return m, errors.New("the manifest lists no files")
	}
	for _, f := range m.Files {
		if err := verifyFile(ctx, dir, f); err != nil {
			return m, fmt.Errorf("%s: %w", f.Name, err)
		}
	}
	return m, nil
}

func verifyFile(ctx context.Context, dir string, f FileInfo) error {
	if f.Bytes < 0 || f.UncompressedBytes < 0 {
		return errors.New("negative sizes in the manifest")
	}
	fh, err := openRegular(dir, f.Name)
	if err != nil {
		return err
	}
	defer func() { _ = fh.Close() }()
	st, err := fh.Stat()
	if err != nil {
		return err
	}
	if st.Size() != f.Bytes {
		return fmt.Errorf("size %d, the manifest says %d", st.Size(), f.Bytes)
	}
	sum := sha256.New()
	in := &ctxReader{ctx: ctx, r: io.LimitReader(fh, f.Bytes)}
	dec, closeDec, err := newDecoder(io.TeeReader(in, sum), f.Compression)
	if err != nil {
		return err
	}
	// A bomb stops one byte past the size the manifest records.
	n, err := io.Copy(io.Discard, &ctxReader{ctx: ctx, r: io.LimitReader(dec, f.UncompressedBytes+1)})
	closeDec()
	if err != nil {
		return fmt.Errorf("does not decompress: %w", err)
	}
	if n > f.UncompressedBytes {
		return fmt.Errorf("decompresses to more than the %d bytes the manifest says", f.UncompressedBytes)
	}
	// Drain what the decompressor did not need, so the checksum covers the whole file.
	if _, err := io.Copy(sum, in); err != nil {
		return err
	}
	if got := hex.EncodeToString(sum.Sum(nil)); got != f.SHA256 {
		return fmt.Errorf("sha256 %s, the manifest says %s", got, f.SHA256)
	}
	if n != f.UncompressedBytes {
		return fmt.Errorf("decompresses to %d bytes, the manifest says %d", n, f.UncompressedBytes)
	}
	return nil
}

// ctxReader fails its reads once ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

func newDecoder(r io.Reader, compression string) (io.Reader, func(), error) {
	switch compression {
	case Zstd:
		// The window the agent writes with is 8 MiB at most; 128 MiB of decoder memory
		// bounds what a crafted frame header may ask for.
		d, err := zstd.NewReader(r, zstd.WithDecoderMaxMemory(128<<20), zstd.WithDecoderConcurrency(1))
		if err != nil {
			return nil, nil, err
		}
		return d, d.Close, nil
	case Gzip:
		g, err := pgzip.NewReader(r)
		if err != nil {
			return nil, nil, fmt.Errorf("not gzip: %w", err)
		}
		return g, func() { _ = g.Close() }, nil
	case None:
		return r, func() {}, nil
	}
	return nil, nil, fmt.Errorf("unknown compression %q", compression)
}
