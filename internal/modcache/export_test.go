package modcache

import "hash/crc32"

// Checksum is the entry checksum, for tests that forge entries.
func Checksum(b []byte) uint32 { return crc32.Checksum(b, castagnoli) }
