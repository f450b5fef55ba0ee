// The broker's only window onto retrieved context: sealed bundle records and their chunks,
// read through this interface. Retrieval implements it; the app wires it in. The broker
// never imports src/retrieval (a test enforces the wall).

/** One chunk of a bundle as the broker sees it. */
export interface EvidenceChunk {
  readonly chunkId: string;
  readonly documentId: string;
  readonly documentVersion: number;
  readonly contentHash: string;
  readonly text: string;
  /** Its place in its document version (0, 1, 2…): chunks next to each other are read as one text for taint. */
  readonly ordinal?: number;
  /** The document's title and the chunk's heading path, shown with the chunk: they feed taint too. */
  readonly title?: string;
  readonly heading?: string;
  /** False when the document version was revoked or superseded since the bundle was sealed. */
  readonly fresh: boolean;
  /** Why it is stale, when the reader knows; the broker assumes `superseded` otherwise. */
  readonly staleReason?: 'revoked' | 'superseded';
}

/** One sealed ContextBundle as the broker sees it. */
export interface EvidenceBundle {
  readonly id: string;
  readonly seal: string;
  readonly tenant: string;
  /** The principal that retrieved it. */
  readonly principalId: string;
  readonly sessionId: string | null;
  readonly createdAt: string;
  /** False when any chunk in it is stale. */
  readonly fresh: boolean;
  /** False when the stored bundle record no longer matches its seal; the broker then treats the bundle as absent. */
  readonly sealValid?: boolean;
  readonly chunks: readonly EvidenceChunk[];
}

/**
 * Reads bundles by id. Synchronous, so facts are computed inside the broker's store
 * transaction; ids it does not know are simply absent from the map.
 */
export interface EvidenceReader {
  getEvidence(bundleIds: readonly string[]): Map<string, EvidenceBundle>;
  /**
   * Ids of the bundles retrieved in `sessionId`. Their text was shown to the session's
   * actor whether or not a proposal cites them, so it feeds taint too (an injected text can
   * ask not to be cited). A reader without it limits taint to the cited bundles.
   */
  sessionBundleIds?(sessionId: string): string[];
}
