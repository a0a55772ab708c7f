// Package units formats quantities for people: one definition for the controller, the
// agent, the demo and the kubectl plugin (which must not pull in the agent's dependencies).
package units

import "fmt"

// HumanBytes is a byte count for people, in binary units: "512 B", "1.4 GiB" (the
// controller shows backup sizes with it too).
func HumanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 5; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
