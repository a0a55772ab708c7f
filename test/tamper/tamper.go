// Package tamper makes damaged copies of backups for the tests and the demo: the dump
// changed (a row removed, a byte changed, cut short) or a page of a physical backup
// damaged, and the manifest's sizes and SHA-256 rewritten to match, so that `agent verify`
// passes and only a restore drill can tell. It is test tooling: nothing in the operator imports it.
package tamper

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
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

// PageSize is InnoDB's default page size, that of the local overcloud's tablespaces.
const PageSize = 16 << 10

// DamagePage changes 16 bytes in the middle of page n of the file path (such as
// "db/t.ibd") inside an xbstream (mariadb-backup --stream=xbstream), and rewrites the CRC-32
// of the chunk that holds them, so that the stream stays well formed and only the page is
// damaged: InnoDB's own page checksum no longer matches. The format is in
// internal/agent/xbstream.go: magic "XBSTCK01" | flags | type ('P', 'E') | path length (4) |
// path, then for 'P': payload length (8) | offset (8) | CRC-32 (4) | payload; little-endian.
func DamagePage(path string, n int64) func([]byte) ([]byte, error) {
	return func(stream []byte) ([]byte, error) {
		out := append([]byte{}, stream...)
		at := n*PageSize + PageSize/2 // in the file
		for i := 0; i < len(out); {
			if len(out)-i < 14 || string(out[i:i+8]) != "XBSTCK01" {
				return nil, fmt.Errorf("xbstream: no chunk at offset %d", i)
			}
			typ := out[i+9]
			pathLen := int(binary.LittleEndian.Uint32(out[i+10 : i+14]))
			j := i + 14 + pathLen
			if j > len(out) {
				return nil, fmt.Errorf("xbstream: a path past the end at offset %d", i)
			}
			name := string(out[i+14 : j])
			if typ == 'E' {
				i = j
				continue
			}
			if j+20 > len(out) {
				return nil, fmt.Errorf("xbstream: a chunk header past the end at offset %d", i)
			}
			length := int(binary.LittleEndian.Uint64(out[j : j+8]))      //nolint:gosec // G115: a test's own stream
			offset := int64(binary.LittleEndian.Uint64(out[j+8 : j+16])) //nolint:gosec // G115: a test's own stream
			payload := j + 20
			if length < 0 || payload+length > len(out) {
				return nil, fmt.Errorf("xbstream: a payload past the end at offset %d", i)
			}
			if name == path && typ == 'P' && offset <= at && at+16 <= offset+int64(length) {
				p := out[payload : payload+length]
				for k := at - offset; k < at-offset+16; k++ {
					p[k] ^= 0xff
				}
				binary.LittleEndian.PutUint32(out[j+16:j+20], crc32.ChecksumIEEE(p))
				return out, nil
			}
			i = payload + length
		}
		return nil, fmt.Errorf("xbstream: no payload of %s holds page %d", path, n)
	}
}
