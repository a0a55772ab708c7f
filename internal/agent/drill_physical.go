package agent

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
)

// startPrepared is the scratch server of a physical backup: the backup's xbstream,
// decompressed, extracted into the scratch datadir (extractXBStream: every path inside
// it), prepared by mariadb-backup --prepare (its redo log applied: the copy as it was at
// the backup's position), and a mariadbd started on it as on any other datadir, Galera
// off. The copy's grant tables are the overcloud's, whose root logs in only as the
// overcloud's OS root: the server runs with --skip-grant-tables, on its private socket
// with no network, and nothing logs in but the drill. failed is set when the backup does
// not restore (its stream does not extract, prepare fails, or the server does not start
// on the prepared copy); err when the drill could not run.
func startPrepared(ctx context.Context, cfg DrillConfig, f FileInfo, ph *phases) (s *scratch, failed, err error) {
	d, err := scratchDirs(cfg)
	if err != nil {
		return nil, nil, err
	}
	if err := extract(cfg, f, d.data); err != nil {
		return nil, err, nil
	}
	ph.mark("extract")
	//nolint:gosec // G204: a fixed program, our own paths
	prepare := exec.CommandContext(ctx, cmp.Or(cfg.BackupTool, "mariadb-backup"), noDefaults, "--prepare",
		"--target-dir="+d.data, "--tmpdir="+d.run, "--use-memory="+cmp.Or(cfg.BufferPool, "128M"))
	var out bytes.Buffer
	prepare.Stdout, prepare.Stderr = &limited{w: &out, n: 64 << 10}, &limited{w: &out, n: 64 << 10}
	if err := prepare.Run(); err != nil {
		logOutput(cfg.log(), "mariadb-backup --prepare", out.Bytes())
		return nil, fmt.Errorf("mariadb-backup --prepare of the copy: %w%s (its output is in the agent's log)", err,
			errorCodes(out.Bytes(), true)), nil
	}
	ph.mark("prepare")
	s, err = startServer(ctx, cfg, d, ph, "--skip-grant-tables")
	if err != nil {
		return nil, fmt.Errorf("the server on the prepared copy: %w", err), nil
	}
	if err := os.WriteFile(s.cnf, fmt.Appendf(nil, "[client]\nuser=root\nsocket=%s\n", s.sock), 0o600); err != nil {
		s.stop()
		return nil, nil, err
	}
	if s.db, err = socketDB(s.sock, "root", ""); err != nil {
		s.stop()
		return nil, nil, err
	}
	ph.mark("start")
	return s, nil, nil
}

// openData is a backup file's content as written: decompressed, read up to the sizes
// the manifest records (which Verify has checked). close closes the file and the decoder.
func openData(dir string, f FileInfo) (r io.Reader, closeData func(), err error) {
	fh, err := openRegular(dir, f.Name)
	if err != nil {
		return nil, nil, err
	}
	dec, closeDec, err := newDecoder(io.LimitReader(fh, f.Bytes), f.Compression)
	if err != nil {
		_ = fh.Close()
		return nil, nil, err
	}
	return io.LimitReader(dec, f.UncompressedBytes), func() { closeDec(); _ = fh.Close() }, nil
}

// extract decompresses the backup's xbstream into dir.
func extract(cfg DrillConfig, f FileInfo, dir string) error {
	data, closeData, err := openData(cfg.Dir, f)
	if err != nil {
		return err
	}
	defer closeData()
	if err := extractXBStream(data, dir); err != nil {
		// The error may quote the stream's paths, which the overcloud wrote: the log has it.
		logOutput(cfg.log(), "extracting "+f.Name, []byte(err.Error()))
		return fmt.Errorf("%s does not extract: it is not the well-formed xbstream it was when taken (the agent's log says why)", f.Name)
	}
	return nil
}
