// Writes a large CDSR transaction file (N encounters of the valid test shape) without holding it
// in memory. Used by the bench and by the bounded-memory test.
import { createWriteStream } from 'node:fs';
import { once } from 'node:events';

export async function writeLargeTransaction(file: string, targetBytes: number): Promise<{ encounters: number; bytes: number }> {
  const out = createWriteStream(file);
  let bytes = 0;
  const write = async (s: string): Promise<void> => {
    bytes += Buffer.byteLength(s);
    if (!out.write(s)) await once(out, 'drain');
  };
  await write(
    '{"Transaction_ID":"bench-1","Transaction_DateTime":"2026-01-01T00:00:00","Facility_ID":"100000",' +
      '"PartnerID":"10000","AppID":"10019","CDSR_File_Version_Num":"1.0","Encounters":[',
  );
  let n = 0;
  while (bytes < targetBytes) {
    const encounter = {
      Unique_Encounter_ID: `V${n}`,
      Patient_Sex: n % 2 ? 'F' : 'M',
      Health_Insurance: '1,2',
      Clinical_Scenario_Codes: 'R51.9,G44.1',
      Clinical_Scenario_Descriptions: 'Headache; unspecified,Vascular headache',
      Consultations: [0, 1].map((k) => ({
        CDS_Consultation_Date: '03/03/2022',
        CDS_Consultation_Time: `1${k}:08:33`,
        Place_of_Service: '22',
        Modality: '1',
        Name_of_Exam_Ordered: 'CT head without contrast',
        Ordered_Exam_Completed: '4',
        Appropriateness_Category: '1',
        CDS_Vendor: 'G1014',
        Medicare_Modifier: 'ME',
        Clinician1_Unique_ID: '1234567893',
        Clinician1_First_Name: 'Ann',
        Clinician1_Last_Name: 'Order',
      })),
    };
    await write((n === 0 ? '' : ',') + JSON.stringify(encounter));
    n++;
  }
  // The count goes last, as a streaming writer must put it.
  await write(`],"Num_of_Encounters_Included":${n}}`);
  out.end();
  await once(out, 'finish');
  return { encounters: n, bytes };
}
