//go:build !linux

package proc

// prepareCopy does nothing where transparent huge pages do not exist.
func prepareCopy([]byte) {}
