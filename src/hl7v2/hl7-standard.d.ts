// The part of hl7-standard's (untyped) API that src/hl7v2/parse.ts uses. Nothing outside
// src/hl7v2/ sees these types.
declare module 'hl7-standard' {
  export type Hl7StdComponent = string | string[];
  export type Hl7StdRepetition = Record<string, Hl7StdComponent>;
  export type Hl7StdField = string | string[] | Hl7StdRepetition | Hl7StdRepetition[];
  export interface Hl7StdSegment {
    type: string;
    index: number;
    data: Record<string, Hl7StdField>;
  }
  export default class HL7 {
    constructor(data?: string, opts?: { lineEndings?: string });
    transform(cb?: (err: Error | null) => void, batch?: boolean): void;
    transformed: Record<string, Hl7StdSegment[]>;
  }
}
