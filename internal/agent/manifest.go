package agent

import (
	"bytes"
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

// ReadManifest reads a backup directory's manifest.
func ReadManifest(dir string) (*Manifest, error) {
	data, err := os.ReadFile(filepath.Join(dir, ManifestName)) //nolint:gosec // G304: the directory the user names
	if err != nil {
		return nil, fmt.Errorf("reading the manifest: %w", err)
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
// against the manifest, and that it decompresses to the recorded size. It returns the
// first mismatch.
func Verify(dir string) (*Manifest, error) {
	m, err := ReadManifest(dir)
	if err != nil {
		return nil, err
	}
	if len(m.Files) == 0 {
		return m, errors.New("the manifest lists no files")
	}
	for _, f := range m.Files {
		if err := verifyFile(dir, f); err != nil {
			return m, fmt.Errorf("%s: %w", f.Name, err)
		}
	}
	return m, nil
}

func verifyFile(dir string, f FileInfo) error {
	if !safeName.MatchString(f.Name) {
		return errors.New("unsafe file name in the manifest")
	}
	fh, err := os.Open(filepath.Join(dir, f.Name)) //nolint:gosec // G304: a checked name
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
	dec, closeDec, err := newDecoder(io.TeeReader(fh, sum), f.Compression)
	if err != nil {
		return err
	}
	n, err := io.Copy(io.Discard, dec)
	closeDec()
	if err != nil {
		return fmt.Errorf("does not decompress: %w", err)
	}
	// Drain what the decompressor did not need, so the checksum covers the whole file.
	if _, err := io.Copy(sum, fh); err != nil {
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

func newDecoder(r io.Reader, compression string) (io.Reader, func(), error) {
	switch compression {
	case Zstd:
		d, err := zstd.NewReader(r)
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
