package agent

import (
	"strings"
	"testing"
)

func TestDatabasesSpaceNeed(t *testing.T) {
	const mib = 1 << 20
	for name, tc := range map[string]struct {
		sql, existing, minFree int64
		headroom               float64
		want                   int64
	}{
		"a new database: twice its SQL, with headroom":    {sql: 100 * mib, headroom: 1.25, want: 250 * mib},
		"replacing one as big: only the growth":           {sql: 100 * mib, existing: 150 * mib, headroom: 1, want: 50 * mib},
		"replacing a bigger one: nothing but the minimum": {sql: 100 * mib, existing: 500 * mib, headroom: 1.25, minFree: 10 * mib, want: 10 * mib},
		"a headroom below 1 counts as 1":                  {sql: 10 * mib, headroom: 0.5, want: 20 * mib},
		"negative sizes count as nothing":                 {sql: 10 * mib, existing: -5, minFree: -1, headroom: 1, want: 20 * mib},
		"a huge SQL does not overflow":                    {sql: 1 << 62, headroom: 1, want: 1 << 53},
	} {
		t.Run(name, func(t *testing.T) {
			if got := DatabasesSpaceNeed(tc.sql, tc.existing, tc.headroom, tc.minFree); got != tc.want {
				t.Errorf("need %d MiB, want %d MiB", got/mib, tc.want/mib)
			}
		})
	}
}

func TestParseDF(t *testing.T) {
	const header = "Filesystem     1024-blocks      Used Available Capacity Mounted on\n"
	for name, tc := range map[string]struct {
		out      string
		operands int
		avail    []int64
		mount    []string
		wantErr  string
	}{
		"one operand": {
			out: header + "/dev/vda1 102400 2048 81920 3% /var/lib/mysql\n", operands: 1,
			avail: []int64{81920 * 1024}, mount: []string{"/var/lib/mysql"},
		},
		"two operands, a mount point with a space": {
			out:      header + "/dev/vda1 10 1 5 10% /\n/dev/vdb 10 1 7 10% /srv/my data\n",
			operands: 2, avail: []int64{5 * 1024, 7 * 1024}, mount: []string{"/", "/srv/my data"},
		},
		"a line missing":     {out: header + "/dev/vda1 10 1 5 10% /\n", operands: 2, wantErr: "df printed 2 lines"},
		"a short line":       {out: header + "/dev/vda1 10 1\n", operands: 1, wantErr: "is not filesystem, blocks"},
		"not a number":       {out: header + "/dev/vda1 10 1 lots 10% /\n", operands: 1, wantErr: "not a number"},
		"a negative number":  {out: header + "/dev/vda1 10 1 -5 10% /\n", operands: 1, wantErr: "not a number"},
		"a number too large": {out: header + "/dev/vda1 10 1 99999999999999999 10% /\n", operands: 1, wantErr: "not a number"},
		"an error, not df's": {out: "df: /var/lib/mysql: No such file or directory\n", operands: 1, wantErr: "df printed 1 lines"},
	} {
		t.Run(name, func(t *testing.T) {
			avail, mount, err := parseDF(tc.out, tc.operands)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for i := range tc.avail {
				if avail[i] != tc.avail[i] || mount[i] != tc.mount[i] {
					t.Errorf("operand %d: %d on %q, want %d on %q", i, avail[i], mount[i], tc.avail[i], tc.mount[i])
				}
			}
		})
	}
}
