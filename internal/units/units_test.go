package units

import "testing"

func TestHumanBytes(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 1536: "1.5 KiB", 1536 * 1024: "1.5 MiB",
		1503238554: "1.4 GiB", 5 << 30: "5.0 GiB", 5 << 40: "5.0 TiB", 2 << 60: "2.0 EiB"} {
		if got := HumanBytes(n); got != want {
			t.Errorf("HumanBytes(%d) = %q, want %q", n, got, want)
		}
	}
}
