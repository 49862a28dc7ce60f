// Our model of a parsed HL7 v2 message: segments → fields → repetitions → components →
// subcomponents, every value unescaped. The rest of the adapter sees only this, never the
// parser library's types.

/** One repetition: components, each a list of subcomponents. */
export type Hl7Repetition = readonly (readonly string[])[];
/** One field: its repetitions. An empty field has one repetition with one empty component. */
export type Hl7Field = readonly Hl7Repetition[];

export interface Hl7Segment {
  readonly name: string;
  /** fields[0] is field 1 (for MSH: the field separator). */
  readonly fields: readonly Hl7Field[];
  /** 1-based line of the segment in the message as received. */
  readonly line: number;
}

export interface Hl7Message {
  readonly segments: readonly Hl7Segment[];
  /** MSH-9.1, MSH-9.2, MSH-9.3 */
  readonly messageType: string;
  readonly triggerEvent: string;
  readonly structure: string;
  /** MSH-10 */
  readonly controlId: string;
  /** MSH-3.1, MSH-4.1 */
  readonly sendingApplication: string;
  readonly sendingFacility: string;
  /** MSH-7 as sent */
  readonly dateTime: string;
  /** MSH-12.1 */
  readonly version: string;
}

/** The text of field/repetition/component/subcomponent (1-based, as in HL7 paths); '' when absent. */
export function valueAt(segment: Hl7Segment, field: number, component = 1, subcomponent = 1, repetition = 1): string {
  return segment.fields[field - 1]?.[repetition - 1]?.[component - 1]?.[subcomponent - 1] ?? '';
}

export function segmentsNamed(message: Hl7Message, name: string): Hl7Segment[] {
  return message.segments.filter((s) => s.name === name);
}
