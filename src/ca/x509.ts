// The one door to @peculiar/x509. Its dependency tsyringe refuses to load without a Reflect
// metadata polyfill, so the polyfill is imported first, here and nowhere else; ES module
// evaluation (and esbuild's CJS bundle) keeps this order.
import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

// Keys and signatures go through Node's own WebCrypto (OpenSSL underneath).
x509.cryptoProvider.set(webcrypto);

export { x509 };

export type CryptoKey = webcrypto.CryptoKey;
export type CryptoKeyPair = webcrypto.CryptoKeyPair;
export const subtle: webcrypto.SubtleCrypto = webcrypto.subtle;

/** ECDSA over P-256 with SHA-256: the only key type this CA creates. */
export const EC_P256 = { name: 'ECDSA', namedCurve: 'P-256' } as const;
export const ECDSA_SHA256 = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
