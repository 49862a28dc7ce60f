// What mapping one message or resource produces: a partial CDSR record with where each value
// came from, or the problems that kept it from being one.

export type SourceKind = 'hl7v2' | 'fhir';

export interface TraceEntry {
  readonly field: string;
  /** `hl7v2.yaml:31`: the rule that set the value. */
  readonly rule: string;
  /** The path that gave the raw value (`OBR-24`, a FHIRPath), or `constant` / `default`. */
  readonly path: string;
  readonly raw: string;
  /** `crosswalks/modality.csv:4` when a crosswalk row translated the value. */
  readonly crosswalk?: string;
  readonly value: string;
  /**
   * Set when the value is a guess of the tables, saying why: a fallback (`fallback: ORC-9, the
   * 5th of 5 candidates`), a default, or the reason the table gives (`guess:`). Unset when the
   * rule's first path (or its constant) gave the value.
   */
  readonly guess?: string;
  /**
   * Why earlier sources of the field gave nothing: a rule or candidate whose `when` did not hold
   * (`ORC-9 skipped: ORC-1 = XO is not in [NW]`). Unset when none was skipped.
   */
  readonly skipped?: readonly string[];
}

/** A rule that found nothing in this message or resource: which paths it tried. */
export interface TraceMiss {
  readonly field: string;
  readonly rule: string;
  readonly tried: readonly string[];
  /** The rule, or candidates of it that had a value, skipped because a `when` did not hold: `rule skipped: PV1-2 is empty`. */
  readonly skipped?: readonly string[];
}

export interface PartialRecord {
  readonly source: {
    readonly kind: SourceKind;
    /** ORM^O01, ServiceRequest, … */
    readonly type: string;
    /** order | result | encounter: the table's kind for this message or resource. */
    readonly role: string;
    /** MSH-10, or the resource's type/id/version. */
    readonly id: string;
  };
  readonly facilityId: string;
  /** A PartnerID given by facilities.csv for this facility, if any. */
  readonly partnerId?: string;
  readonly encounterId: string;
  /** The order's number for merging: the first of orderNumbers. */
  readonly orderKey?: string;
  /** Every number the order is known by here (placer, then filler/accession), distinct. */
  readonly orderNumbers?: readonly string[];
  /** For an order without its consultation date and time: the rules and paths that were tried. */
  readonly consultationKeyTried?: string;
  /** Set when the message carries the consultation's date and time. */
  readonly consultationDate?: string;
  readonly consultationTime?: string;
  /**
   * With the date and time: where among the sources of the CDS_Consultation_Date/Time rules they
   * came from (the worse of the two). 0 = the first candidate (the CDS data itself), larger = a
   * fallback (the order's start, its transaction time…). A better key may move the consultation.
   */
  readonly consultationKeyRank?: number;
  readonly cancelled: boolean;
  /**
   * Set when a crosswalk row says the order is known but not reported (`acr_code` exclude, e.g.
   * plain radiography): the order's consultation is kept and marked like a cancelled one, with
   * this rule and row as the reason, so the ledger shows it excluded rather than losing it.
   */
  readonly excluded?: Exclusion;
  /** MSH-7 / meta.lastUpdated as a sortable wall-clock string; '' when the source has none. */
  readonly sourceTime: string;
  readonly encounterFields: Readonly<Record<string, string>>;
  readonly consultationFields: Readonly<Record<string, string>>;
  readonly trace: readonly TraceEntry[];
  /** The rules that found nothing here, with the paths they tried (`map --trace` shows them). */
  readonly misses?: readonly TraceMiss[];
}

/** The rule and crosswalk row that excluded an order (known, not advanced imaging), and the source value they read. */
export interface Exclusion {
  /** The table rule (`mappings/hl7v2.yaml:73`). */
  readonly rule: string;
  /** The crosswalk row that says exclude (`mappings/crosswalks/modality.csv:22`). */
  readonly crosswalk: string;
  /** The source value (`XR`). */
  readonly raw: string;
}
