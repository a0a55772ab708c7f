package agent

// This file follows an xbstream (mariadb-backup --stream=xbstream) as it is written to
// the backup file: it checks every chunk, keeps the few small files the agent reads
// (the Galera position, the tool's version) and tells a complete stream from a cut one.
// The format, from MariaDB's extra/mariabackup/xbstream_read.cc, is a sequence of chunks,
// integers little-endian:
//
//	magic "XBSTCK01" | flags (1) | type (1: 'P' payload, 'E' end of file) | path length (4) | path
//	then, for every type but 'E': payload length (8) | payload offset (8) | CRC-32 (4) | payload
//
// Chunks of several files interleave; each file ends with its 'E' chunk.

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	pathpkg "path"
	"sort"
)

const (
	xbMagic = "XBSTCK01"
	// xbFlagIgnorable marks a chunk a reader may skip when it does not know its type.
	xbFlagIgnorable = 0x01
	xbTypePayload   = 'P'
	xbTypeEOF       = 'E'
	// xbMaxPath is mariadb-backup's FN_REFLEN: a longer path is a corrupt stream.
	xbMaxPath = 512
	// xbMaxKept bounds what is kept of one followed file.
	xbMaxKept = 1 << 20
)

// errStreamAborted ends the follower when the stream is abandoned.
var errStreamAborted = errors.New("the stream was abandoned")

// xbFollower is an io.Writer that parses the xbstream written to it, in its own
// goroutine, without keeping it. A malformed stream makes the next Write fail.
type xbFollower struct {
	pw   *io.PipeWriter
	done chan struct{}
	// set by the parser before done is closed
	kept map[string][]byte
	err  error
}

// followXBStream starts following a stream, keeping the content of the named files.
func followXBStream(keep ...string) *xbFollower {
	pr, pw := io.Pipe()
	f := &xbFollower{pw: pw, done: make(chan struct{})}
	want := map[string]bool{}
	for _, k := range keep {
		want[k] = true
	}
	go func() {
		defer close(f.done)
		// The parser reads until the writer closes; its failure fails the next Write.
		f.kept, f.err = parseXBStream(pr, want)
		_ = pr.CloseWithError(f.err)
	}()
	return f
}

// Write implements io.Writer.
func (f *xbFollower) Write(p []byte) (int, error) { return f.pw.Write(p) }

// finish ends the stream and returns the kept files, or why the stream is not a
// complete, well-formed xbstream.
func (f *xbFollower) finish() (map[string][]byte, error) {
	_ = f.pw.Close()
	<-f.done
	return f.kept, f.err
}

// abort stops the parser when the stream is abandoned.
func (f *xbFollower) abort() {
	_ = f.pw.CloseWithError(errStreamAborted)
	<-f.done
}

// parseXBStream reads a whole xbstream from r, checking each chunk's magic, type, path
// and CRC-32, and that every file that was started was ended. It returns the content of
// the files named in keep (each up to xbMaxKept; a larger one is dropped).
func parseXBStream(r io.Reader, keep map[string]bool) (map[string][]byte, error) {
	x := &xbReader{r: bufio.NewReaderSize(r, 256<<10), keep: keep,
		kept: map[string][]byte{}, tooBig: map[string]bool{}, open: map[string]bool{}}
	chunks := 0
	for ; ; chunks++ {
		more, err := x.chunk()
		if err != nil {
			return nil, err
		}
		if !more {
			break
		}
	}
	if chunks == 0 {
		return nil, errors.New("xbstream: the stream is empty")
	}
	if len(x.open) > 0 {
		names := make([]string, 0, len(x.open))
		for p := range x.open {
			names = append(names, p)
		}
		sort.Strings(names)
		return nil, fmt.Errorf("xbstream: the stream ends inside %d files (%s...)", len(names), names[0])
	}
	return x.kept, nil
}

// xbReader reads an xbstream chunk by chunk.
type xbReader struct {
	r      *bufio.Reader
	offset int64 // of the current chunk, for the messages
	keep   map[string]bool
	kept   map[string][]byte
	tooBig map[string]bool
	open   map[string]bool // files with payload and no end chunk yet
	head   [14]byte
	sizes  [20]byte
	// files, when set, receives every file of the stream (extractXBStream).
	files *xbFiles
}

// chunk reads one chunk; more is false at a clean end of the stream.
func (x *xbReader) chunk() (more bool, err error) {
	if _, err := io.ReadFull(x.r, x.head[:]); err != nil {
		if errors.Is(err, io.EOF) {
			return false, nil // the only place a stream may end
		}
		return false, x.cut(err)
	}
	if string(x.head[:8]) != xbMagic {
		return false, fmt.Errorf("xbstream: no chunk magic at offset %d", x.offset)
	}
	flags, typ := x.head[8], x.head[9]
	pathLen := binary.LittleEndian.Uint32(x.head[10:14])
	if pathLen >= xbMaxPath {
		return false, fmt.Errorf("xbstream: path length %d at offset %d", pathLen, x.offset)
	}
	pathBytes := make([]byte, pathLen)
	if _, err := io.ReadFull(x.r, pathBytes); err != nil {
		return false, x.cut(err)
	}
	path := string(pathBytes)
	size := int64(len(x.head)) + int64(pathLen)
	if typ == xbTypeEOF {
		return true, x.endOf(path, size)
	}
	if typ != xbTypePayload && flags&xbFlagIgnorable == 0 {
		return false, fmt.Errorf("xbstream: unknown chunk type %q at offset %d", typ, x.offset)
	}
	if _, err := io.ReadFull(x.r, x.sizes[:]); err != nil {
		return false, x.cut(err)
	}
	length := int64(binary.LittleEndian.Uint64(x.sizes[0:8])) //nolint:gosec // G115: checked just below
	want := binary.LittleEndian.Uint32(x.sizes[16:20])
	if length < 0 || length > 1<<40 {
		return false, fmt.Errorf("xbstream: chunk length %d at offset %d", length, x.offset)
	}
	crc := crc32.NewIEEE()
	var payload io.Writer = crc
	buf := x.keeper(path, typ, length)
	if buf != nil {
		payload = io.MultiWriter(crc, buf)
	}
	if x.files != nil && typ == xbTypePayload {
		w, err := x.files.at(path, x.sizes[8:16], x.offset)
		if err != nil {
			return false, err
		}
		payload = io.MultiWriter(payload, w)
	}
	if _, err := io.CopyN(payload, x.r, length); err != nil {
		return false, x.cut(err)
	}
	if got := crc.Sum32(); got != want {
		return false, fmt.Errorf("xbstream: %s: CRC-32 %08x, the chunk at offset %d says %08x", path, got, x.offset, want)
	}
	if buf != nil {
		x.kept[path] = buf.Bytes()
	}
	if typ == xbTypePayload {
		x.open[path] = true
	}
	x.offset += size + int64(len(x.sizes)) + length
	return true, nil
}

// endOf reads the end chunk of path (size bytes long).
func (x *xbReader) endOf(path string, size int64) error {
	delete(x.open, path) // a file without payload (an empty one) has only this chunk
	x.offset += size
	if x.files != nil {
		return x.files.end(path)
	}
	return nil
}

// keeper is where the payload of a kept file goes, or nil.
func (x *xbReader) keeper(path string, typ byte, length int64) *bytes.Buffer {
	if !x.keep[path] || typ != xbTypePayload || x.tooBig[path] {
		return nil
	}
	if int64(len(x.kept[path]))+length > xbMaxKept {
		x.tooBig[path] = true // not a file the agent reads: dropped, not cut
		delete(x.kept, path)
		return nil
	}
	return bytes.NewBuffer(x.kept[path])
}

func (x *xbReader) cut(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("xbstream: the stream is cut inside the chunk at offset %d", x.offset)
	}
	return err
}

// extractXBStream writes every file of the xbstream read from r under dir, as `mbstream
// -x` would, checking the stream as parseXBStream does. The paths come from the backup's
// stream, which the overcloud wrote: they are opened through an os.Root of dir, so that
// none (absolute, "..", through a symlink) can reach outside it.
func extractXBStream(r io.Reader, dir string) error {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer func() { _ = root.Close() }()
	files := &xbFiles{root: root, open: map[string]*os.File{}}
	x := &xbReader{r: bufio.NewReaderSize(r, 1<<20), kept: map[string][]byte{}, tooBig: map[string]bool{},
		open: map[string]bool{}, files: files}
	for {
		more, err := x.chunk()
		if err != nil {
			return errors.Join(err, files.closeAll())
		}
		if !more {
			break
		}
	}
	if len(x.open) > 0 {
		return errors.Join(errors.New("xbstream: the stream ends inside a file"), files.closeAll())
	}
	return files.closeAll()
}

// xbFiles are the files an extraction writes, open until their end chunk.
type xbFiles struct {
	root *os.Root
	open map[string]*os.File
}

// xbMaxOpen bounds the files open at once (mariadb-backup interleaves a few, one per
// copying thread).
const xbMaxOpen = 1024

// file is the open file of path, created (with its directories) the first time.
func (w *xbFiles) file(p string) (*os.File, error) {
	if f := w.open[p]; f != nil {
		return f, nil
	}
	if len(w.open) >= xbMaxOpen {
		return nil, fmt.Errorf("xbstream: more than %d files open at once", xbMaxOpen)
	}
	if d := pathpkg.Dir(p); d != "." {
		if err := w.root.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("xbstream: %w", err)
		}
	}
	f, err := w.root.OpenFile(p, os.O_WRONLY|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("xbstream: %w", err)
	}
	w.open[p] = f
	return f, nil
}

// at is where a payload chunk of path goes: its file, at the chunk's payload offset
// (little-endian, 8 bytes); chunkAt is the chunk's offset in the stream, for the message.
func (w *xbFiles) at(p string, offset []byte, chunkAt int64) (io.Writer, error) {
	f, err := w.file(p)
	if err != nil {
		return nil, err
	}
	at := int64(binary.LittleEndian.Uint64(offset)) //nolint:gosec // G115: checked just below
	if at < 0 || at > 1<<44 {
		return nil, fmt.Errorf("xbstream: %s: payload offset %d in the chunk at offset %d", p, at, chunkAt)
	}
	return io.NewOffsetWriter(f, at), nil
}

// end closes a file at its end chunk (creating it when it had no payload: an empty file).
func (w *xbFiles) end(p string) error {
	f, err := w.file(p)
	if err != nil {
		return err
	}
	delete(w.open, p)
	return f.Close()
}

func (w *xbFiles) closeAll() error {
	errs := make([]error, 0, len(w.open))
	for p, f := range w.open {
		errs = append(errs, f.Close())
		delete(w.open, p)
	}
	return errors.Join(errs...)
}
