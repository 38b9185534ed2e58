// Package jailcheck holds the test that boots real guests through engine/machine inside the jail, the way
// `paddock run` would: everything opened by machine.New, then jail.Apply, then Run. It has no code of its own.
package jailcheck
