// Package tamper makes damaged copies of a logical backup for the tests and the demo: the
// dump changed (a row removed, a byte changed, cut short) and the manifest's sizes and
// SHA-256 rewritten to match, so that `agent verify` passes and only a restore drill can
// tell. It is test tooling: nothing in the operator imports it.
package tamper

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/klauspost/compress/zstd"

	"github.com/overcloud-backup/overcloud-backup-operator/internal/agent"
)

// Copy copies the backup in src to the new directory dst with its dump (databases.sql,
// zstd-compressed) passed through change, and the manifest rewritten to the changed file's
// sizes and checksum, then changed by changeManifest. The other files are copied as they are.
func Copy(src, dst string, change func(dump []byte) ([]byte, error), changeManifest ...func(*agent.Manifest)) error {
	return CopyFile(src, dst, "databases.sql", change, changeManifest...)
}

// CopyFile is Copy for the data file named base (databases.sql, backup.xbstream).
func CopyFile(src, dst, base string, change func(data []byte) ([]byte, error), changeManifest ...func(*agent.Manifest)) error {
	m, err := agent.ReadManifest(src)
	if err != nil {
		return err
	}
	if err := os.Mkdir(dst, 0o700); err != nil {
		return err
	}
	changed := false
	for i, f := range m.Files {
		if strings.ContainsAny(f.Name, `/\`) || f.Name == ".." {
			return fmt.Errorf("manifest names %q: not a file of the backup's directory", f.Name)
		}
		data, err := os.ReadFile(filepath.Join(src, f.Name)) //nolint:gosec // G304: a name from the manifest, checked above
		if err != nil {
			return err
		}
		if f.Name == base || strings.HasPrefix(f.Name, base+".") {
			if f.Compression != agent.Zstd {
				return fmt.Errorf("%s: compression %s, only zstd is handled", f.Name, f.Compression)
			}
			if data, f.UncompressedBytes, err = rewrite(data, change); err != nil {
				return fmt.Errorf("%s: %w", f.Name, err)
			}
			sum := sha256.Sum256(data)
			m.Files[i].Bytes, m.Files[i].UncompressedBytes, m.Files[i].SHA256 = int64(len(data)), f.UncompressedBytes, hex.EncodeToString(sum[:])
			changed = true
		}
		if err := os.WriteFile(filepath.Join(dst, f.Name), data, 0o600); err != nil { //nolint:gosec // G703: checked above
			return err
		}
	}
	if !changed {
		return errors.New("the backup has no " + base)
	}
	for _, c := range changeManifest {
		c(m)
	}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dst, agent.ManifestName), b, 0o600)
}

// rewrite decompresses, changes and recompresses a zstd file.
func rewrite(data []byte, change func([]byte) ([]byte, error)) ([]byte, int64, error) {
	dec, err := zstd.NewReader(nil)
	if err != nil {
		return nil, 0, err
	}
	plain, err := dec.DecodeAll(data, nil)
	dec.Close()
	if err != nil {
		return nil, 0, err
	}
	if plain, err = change(plain); err != nil {
		return nil, 0, err
	}
	enc, err := zstd.NewWriter(nil)
	if err != nil {
		return nil, 0, err
	}
	out := enc.EncodeAll(plain, nil)
	return out, int64(len(plain)), enc.Close()
}

// RowLine is the start and end (after its newline) of the n-th row line of the dump's
// INSERT statements (MariaDB 10.11 writes one row per line: "(1,...),"), 0-based.
func RowLine(dump []byte, n int) (start, end int, err error) {
	seen := 0
	for i := 0; i < len(dump); {
		j := bytes.IndexByte(dump[i:], '\n')
		if j < 0 {
			break
		}
		line := dump[i : i+j]
		if bytes.HasPrefix(line, []byte("(")) && (bytes.HasSuffix(line, []byte("),")) || bytes.HasSuffix(line, []byte(");"))) {
			if seen == n {
				return i, i + j + 1, nil
			}
			seen++
		}
		i += j + 1
	}
	return 0, 0, fmt.Errorf("the dump has %d row lines, not %d", seen, n+1)
}

// RemoveRow removes the n-th row line that ends with "),": a row in the middle of an
// INSERT, so that the statement stays valid and only the row is gone.
func RemoveRow(n int) func([]byte) ([]byte, error) {
	return func(dump []byte) ([]byte, error) {
		for k := n; k < n+1000; k++ {
			start, end, err := RowLine(dump, k)
			if err != nil {
				return nil, err
			}
			if bytes.HasSuffix(bytes.TrimRight(dump[start:end], "\n"), []byte("),")) {
				return append(append([]byte{}, dump[:start]...), dump[end:]...), nil
			}
		}
		return nil, errors.New("no row line in the middle of an INSERT")
	}
}
