//! Synthetic school data: rosters and staff files for samples, tests and benchmarks.
//!
//! Deterministic (a seeded SplitMix64), offline, and fictional: identifiers get valid check
//! characters but are random, names are drawn from common UK name lists, addresses use
//! `example.*` domains. Never real pupils.

use std::fmt::Write as _;

/// Forenames, including accented, hyphenated, apostrophe and word-like ones.
pub const FORENAMES: &[&str] = &[
    "Olivia",
    "Amelia",
    "Isla",
    "Ava",
    "Mia",
    "Ivy",
    "Lily",
    "Isabella",
    "Rosie",
    "Sophia",
    "Grace",
    "Willow",
    "Freya",
    "Florence",
    "Emily",
    "Ella",
    "Poppy",
    "Evie",
    "Elsie",
    "Charlotte",
    "Evelyn",
    "Sienna",
    "Sofia",
    "Daisy",
    "Phoebe",
    "Sophie",
    "Alice",
    "Harper",
    "Matilda",
    "Ruby",
    "Emilia",
    "Maya",
    "Millie",
    "Isabelle",
    "Hallie",
    "Imogen",
    "Esme",
    "Mila",
    "Eva",
    "Zoë",
    "Siân",
    "Aoife",
    "Niamh",
    "Chloé",
    "Anna-Maria",
    "Mary-Jane",
    "Rose",
    "Hope",
    "Summer",
    "May",
    "Noah",
    "Muhammad",
    "George",
    "Oliver",
    "Leo",
    "Arthur",
    "Oscar",
    "Harry",
    "Archie",
    "Jack",
    "Henry",
    "Charlie",
    "Freddie",
    "Theodore",
    "Thomas",
    "Finley",
    "Theo",
    "Alfie",
    "Jacob",
    "Isaac",
    "Tommy",
    "Lucas",
    "Albie",
    "Edward",
    "Joshua",
    "Max",
    "Ethan",
    "Mohammed",
    "Elijah",
    "Teddy",
    "Adam",
    "Rory",
    "Reggie",
    "Harrison",
    "Hunter",
    "Louie",
    "Jude",
    "Ronnie",
    "Sebastian",
    "Will",
    "Mark",
    "Jay",
    "Dylan",
    "Rhys",
    "Dafydd",
    "Seán",
    "Ciarán",
    "Kacper",
    "Jakub",
    "Mateusz",
    "Ayaan",
    "Aarav",
    "Ibrahim",
    "Yusuf",
    "Hamza",
    "Kwame",
    "Chidi",
    "Tobi",
    "Oluwaseun",
    "Wei",
    "Priya",
    "Aisha",
    "Fatima",
    "Zainab",
    "Amara",
    "Nia",
    "Maryam",
    "Hannah",
    "Jessica",
    "Lucy",
    "Ellie",
    "Megan",
    "Katie",
    "Chloe",
    "Amy",
    "Laura",
    "Bethany",
    "Holly",
    "Abigail",
    "Leah",
    "Ben",
    "Sam",
    "Joe",
    "Dan",
    "Tom",
    "Luke",
    "Ryan",
    "Nathan",
    "Callum",
    "Liam",
];

/// Surnames, including hyphenated, apostrophe, accented and word-like ones.
pub const SURNAMES: &[&str] = &[
    "Smith",
    "Jones",
    "Taylor",
    "Brown",
    "Williams",
    "Wilson",
    "Johnson",
    "Davies",
    "Robinson",
    "Wright",
    "Thompson",
    "Evans",
    "Walker",
    "White",
    "Roberts",
    "Green",
    "Hall",
    "Thomas",
    "Clarke",
    "Jackson",
    "Wood",
    "Harris",
    "Edwards",
    "Turner",
    "Martin",
    "Cooper",
    "Hill",
    "Ward",
    "Hughes",
    "Moore",
    "Clark",
    "King",
    "Harrison",
    "Lewis",
    "Baker",
    "Lee",
    "Allen",
    "Morris",
    "Khan",
    "Scott",
    "Watson",
    "Davis",
    "Parker",
    "James",
    "Bennett",
    "Young",
    "Phillips",
    "Richardson",
    "Mitchell",
    "Bailey",
    "Carter",
    "Cook",
    "Singh",
    "Shaw",
    "Bell",
    "Collins",
    "Morgan",
    "Kelly",
    "Begum",
    "Miller",
    "Cox",
    "Marshall",
    "Simpson",
    "Price",
    "Anderson",
    "Adams",
    "Wilkinson",
    "Ali",
    "Ahmed",
    "Foster",
    "Ellis",
    "Murphy",
    "Chapman",
    "Mason",
    "Gray",
    "Richards",
    "Webb",
    "Griffiths",
    "Hunt",
    "Palmer",
    "Campbell",
    "Holmes",
    "Mills",
    "Rogers",
    "Barnes",
    "Knight",
    "Matthews",
    "Barker",
    "Powell",
    "Stevens",
    "Kaur",
    "Fisher",
    "Butler",
    "Dixon",
    "Russell",
    "Harvey",
    "Pearson",
    "Graham",
    "O'Brien",
    "O’Connor",
    "O'Neill",
    "D'Souza",
    "McDonald",
    "MacLeod",
    "O’Brien-Smith",
    "Smith-Jones",
    "Lloyd-Williams",
    "Fox-Pitt",
    "Nowak",
    "Kowalski",
    "Wiśniewski",
    "Nguyen",
    "Chen",
    "Okafor",
    "Adeyemi",
    "Mensah",
    "Patel",
    "Shah",
    "Hussain",
    "Rahman",
    "Iqbal",
    "Da Silva",
    "Dos Santos",
    "Müller",
    "Brook",
    "Rich",
    "Page",
    "Best",
    "Sharp",
    "Little",
    "Long",
    "Short",
    "Hope",
    "Stone",
];

/// Staff forenames and surnames are drawn from the same lists.
const TITLES: &[&str] = &["Mr", "Mrs", "Ms", "Miss", "Dr", "Mx"];

/// A small deterministic generator (SplitMix64).
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
    pub fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

/// A UPN with a valid check letter for the given LA and establishment.
pub fn make_upn(rng: &mut Rng, la: u16, estab: u16) -> String {
    const ALPHA23: &[u8; 23] = b"ABCDEFGHJKLMNPQRTUVWXYZ";
    let body = format!(
        "{la:03}{estab:04}{:02}{:03}",
        rng.below(100),
        rng.below(1000)
    );
    let total: u32 = body
        .bytes()
        .enumerate()
        .map(|(i, d)| (i as u32 + 2) * (d - b'0') as u32)
        .sum();
    format!("{}{body}", ALPHA23[(total % 23) as usize] as char)
}

/// A ULN with a valid check digit.
pub fn make_uln(rng: &mut Rng) -> String {
    loop {
        let mut d = [0u32; 9];
        d[0] = 1 + rng.below(9) as u32;
        for x in d.iter_mut().skip(1) {
            *x = rng.below(10) as u32;
        }
        let r: u32 = d
            .iter()
            .enumerate()
            .map(|(i, v)| (10 - i as u32) * v)
            .sum::<u32>()
            % 11;
        if r != 0 {
            let mut s: String = d.iter().map(|v| char::from(b'0' + *v as u8)).collect();
            s.push(char::from(b'0' + (10 - r) as u8));
            return s;
        }
    }
}

fn email_local(forename: &str, surname: &str) -> String {
    let key = crate::text::name_key(&format!("{forename} {surname}"));
    key.replace(' ', ".")
}

/// A made-up forename from syllables ("Kalemi", "Toraya"): large rosters have tens of
/// thousands of distinct forenames, which the name detector must handle.
pub fn invented_forename(rng: &mut Rng) -> String {
    const ONSET: &[&str] = &[
        "Ka", "Lo", "Mi", "Ta", "Ze", "Ri", "No", "Sa", "Jo", "Be", "Da", "El", "Fa", "Ha", "Ia",
        "Ku", "Ma", "Ne", "Or", "Pa",
    ];
    const MID: &[&str] = &[
        "le", "ra", "vi", "na", "ro", "li", "sha", "me", "de", "ya", "ko", "ti", "bel", "ren",
        "lan",
    ];
    const END: &[&str] = &[
        "mi", "ya", "n", "h", "ra", "el", "o", "a", "ie", "us", "an", "ah", "is", "on", "et",
    ];
    let mut s = String::from(ONSET[rng.below(ONSET.len())]);
    for _ in 0..rng.below(2) {
        s.push_str(MID[rng.below(MID.len())]);
    }
    s.push_str(MID[rng.below(MID.len())]);
    s.push_str(END[rng.below(END.len())]);
    s
}

/// Options for a generated roster.
pub struct RosterSpec<'a> {
    pub pupils: usize,
    pub seed: u64,
    pub la: u16,
    pub estab: u16,
    pub pupil_domain: &'a str,
    /// More distinct names for large rosters: invented forenames and double-barrelled
    /// surnames for a third of the pupils each.
    pub varied: bool,
}

/// A SIMS-style roster CSV: the header row the foundation issue names, one pupil per row.
pub fn roster_csv(spec: &RosterSpec) -> String {
    let mut rng = Rng::new(spec.seed);
    let mut out = String::with_capacity(spec.pupils * 220);
    out.push_str("UPN,ULN,Adno,Legal Surname,Legal Forename,Preferred Surname,Preferred Forename,Middle Name(s),DOB,Year,Reg,Gender,Pupil Email,Pupil Personal Email,Primary Contact Email,Secondary Contact Email\r\n");
    for i in 0..spec.pupils {
        let forename_owned;
        let forename = if spec.varied && rng.below(3) == 0 {
            forename_owned = invented_forename(&mut rng);
            forename_owned.as_str()
        } else {
            rng.pick(FORENAMES)
        };
        let surname_owned;
        let surname = if spec.varied && rng.below(3) == 0 {
            surname_owned = format!("{}-{}", rng.pick(SURNAMES), rng.pick(SURNAMES));
            surname_owned.as_str()
        } else {
            rng.pick(SURNAMES)
        };
        let middle = if rng.below(3) == 0 {
            rng.pick(FORENAMES)
        } else {
            ""
        };
        let preferred = if rng.below(12) == 0 {
            rng.pick(FORENAMES)
        } else {
            ""
        };
        let year = 7 + rng.below(7);
        let birth_year = 2026 - 11 - (year - 7) as i32;
        let dob = format!(
            "{:02}/{:02}/{}",
            1 + rng.below(28),
            1 + rng.below(12),
            birth_year - (rng.below(2) as i32)
        );
        let upn = make_upn(&mut rng, spec.la, spec.estab);
        let uln = if year >= 10 {
            make_uln(&mut rng)
        } else {
            String::new()
        };
        let local = email_local(forename, surname);
        let personal = if rng.below(10) == 0 {
            format!("{local}{}@gmail.com", rng.below(100))
        } else {
            String::new()
        };
        let parent_surname = surname;
        let primary = format!(
            "{}.{}{}@example.com",
            crate::text::name_key(rng.pick(FORENAMES)).replace(' ', ""),
            crate::text::name_key(parent_surname).replace(' ', ""),
            rng.below(1000)
        );
        let secondary = if rng.below(2) == 0 {
            format!(
                "{}{}@example.net",
                email_local(rng.pick(FORENAMES), parent_surname),
                rng.below(100)
            )
        } else {
            String::new()
        };
        let gender = if rng.below(2) == 0 { "F" } else { "M" };
        let q = |s: &str| {
            if s.contains([',', '"', '\n']) {
                format!("\"{}\"", s.replace('"', "\"\""))
            } else {
                s.to_string()
            }
        };
        let _ = write!(
            out,
            "{upn},{uln},{:06},{},{},,{},{},{dob},{year},{year}{},{gender},{local}{i}@{},{personal},{primary},{secondary}\r\n",
            1000 + i,
            q(surname),
            q(forename),
            q(preferred),
            q(middle),
            ["A", "B", "C", "D"][rng.below(4)],
            spec.pupil_domain,
        );
    }
    out
}

/// The same kind of roster as a DfE Common Transfer File.
pub fn roster_ctf(spec: &RosterSpec) -> String {
    let csv = roster_csv(spec);
    let mut out = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<CTfile>\n  <Header>\n    <DocumentName>Common Transfer File</DocumentName>\n    <CTFversion>25.0</CTFversion>\n    <DocumentQualifier>full</DocumentQualifier>\n  </Header>\n  <CTFpupilData>\n",
    );
    let esc = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('\'', "&apos;")
    };
    let mut rdr = csv::Reader::from_reader(csv.as_bytes());
    for row in rdr.records() {
        let r = row.expect("generated CSV");
        let dob = crate::directory::parse_dob(&r[8]).expect("generated date");
        let _ = write!(
            out,
            "    <Pupil>\n      <UPN>{}</UPN>\n{}      <Surname>{}</Surname>\n      <Forename>{}</Forename>\n      <DOB>{}</DOB>\n      <Sex>{}</Sex>\n      <BasicDetails>\n{}{}        <NCyearActual>{}</NCyearActual>\n      </BasicDetails>\n      <Email>{}</Email>\n      <Contacts>\n        <Contact><Order>1</Order><Relationship>PAR</Relationship><Email>{}</Email></Contact>\n      </Contacts>\n    </Pupil>\n",
            &r[0],
            if r[1].is_empty() {
                String::new()
            } else {
                format!(
                    "      <UniqueLearnerNumber>{}</UniqueLearnerNumber>\n",
                    &r[1]
                )
            },
            esc(&r[3]),
            esc(&r[4]),
            dob.format("%Y-%m-%d"),
            &r[11],
            if r[6].is_empty() {
                String::new()
            } else {
                format!(
                    "        <PreferredForename>{}</PreferredForename>\n",
                    esc(&r[6])
                )
            },
            if r[7].is_empty() {
                String::new()
            } else {
                format!("        <MiddleNames>{}</MiddleNames>\n", esc(&r[7]))
            },
            &r[9],
            &r[12],
            &r[14],
        );
    }
    out.push_str("  </CTFpupilData>\n</CTfile>\n");
    out
}

/// A staff CSV: `Title, Forename, Surname, Email, Personal Email`.
pub fn staff_csv(n: usize, seed: u64, domain: &str) -> String {
    let mut rng = Rng::new(seed);
    let mut out = String::from("Title,Forename,Surname,Email,Personal Email\r\n");
    for i in 0..n {
        let (f, s) = (rng.pick(FORENAMES), rng.pick(SURNAMES));
        let local = email_local(f, s);
        let personal = if rng.below(4) == 0 {
            format!("{local}{}@gmail.com", rng.below(100))
        } else {
            String::new()
        };
        let _ = write!(
            out,
            "{},{f},{s},{local}{i}@{domain},{personal}\r\n",
            rng.pick(TITLES)
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_identifiers_are_valid() {
        let mut rng = Rng::new(7);
        for _ in 0..1000 {
            assert!(crate::identifiers::upn_valid(&make_upn(
                &mut rng, 881, 4012
            )));
            assert!(crate::identifiers::uln_valid(&make_uln(&mut rng)));
        }
    }

    #[test]
    fn roster_is_deterministic_and_loadable() {
        let spec = RosterSpec {
            pupils: 200,
            seed: 1,
            la: 881,
            estab: 4000,
            pupil_domain: "pupils.example.sch.uk",
            varied: true,
        };
        let a = roster_csv(&spec);
        assert_eq!(a, roster_csv(&spec));
        let mut st = crate::directory::SchoolStats::default();
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("r.csv");
        std::fs::write(&p, &a).unwrap();
        let mut n = 0;
        crate::directory::read_roster(&p, &mut st, &mut |_| n += 1).unwrap();
        assert_eq!(n, 200);
        assert!(st.issues.is_empty(), "{:?}", st.issues);
    }
}
