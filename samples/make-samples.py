#!/usr/bin/env python3
# Writes samples/messages/*.eml and their expected results. Run from anywhere; attachment
# samples read tests/fixtures/ (see tests/fixtures/make-fixtures.sh). All people synthetic.
import base64, json, os, quopri
from email.header import Header
HERE=os.path.dirname(os.path.abspath(__file__))
OUT=os.path.join(HERE,'messages')
FIX=os.path.join(HERE,'..','tests','fixtures')
def fx(n): return open(os.path.join(FIX,n),'rb').read()
S='beaulieupark.example.sch.uk'; P='pupils.'+S
BOS='boswells.example.sch.uk'
LUKE=f'"Luke Rich" <luke.rich0@{S}>'
ROSIE=f'"Rosie Griffiths" <rosie.griffiths1@{S}>'
ISAAC=f'"Isaac Pearson" <isaac.pearson2@{S}>'
HARPER=f'"Harper Wilson" <harper.wilson39@{S}>'
DATE='Wed, 25 Nov 2026 10:15:00 +0000'
msgs=[]
def add(name, frm, to, subject, body, expect, kinds, cc=None, bcc=None, date=DATE, extra_headers='', ctype='text/plain; charset=utf-8', cte=None, parts=None, complete=True, raw=None):
    msgs.append(dict(name=name,frm=frm,to=to,subject=subject,body=body,expect=expect,kinds=sorted(kinds),cc=cc,bcc=bcc,date=date,extra=extra_headers,ctype=ctype,cte=cte,parts=parts,complete=complete,raw=raw))

def addr(a):
    return a.split('<')[-1].rstrip('>') if '<' in a else a

def render(m):
    if m['raw'] is not None:
        return m['raw']
    h=[]
    h.append(f"From: {m['frm']}")
    h.append(f"To: {', '.join(m['to'])}")
    if m['cc']: h.append(f"Cc: {', '.join(m['cc'])}")
    if m['bcc']: h.append(f"Bcc: {', '.join(m['bcc'])}")
    subj=m['subject']
    try:
        subj.encode('ascii'); hs=subj
    except UnicodeEncodeError:
        hs=Header(subj,'utf-8').encode()
    h.append(f"Subject: {hs}")
    h.append(f"Date: {m['date']}")
    h.append(f"Message-ID: <{m['name']}@hallpass.samples>")
    h.append("MIME-Version: 1.0")
    if m['extra']: h.append(m['extra'].rstrip())
    if m['parts']:
        b='==hallpass-sample=='
        h.append(f'Content-Type: multipart/mixed; boundary="{b}"')
        out='\r\n'.join(h)+'\r\n\r\n'+'This is a multi-part message in MIME format.\r\n'
        for p in m['parts']:
            out+=f'--{b}\r\n'+p.rstrip('\r\n')+'\r\n'
        out+=f'--{b}--\r\n'
        return out
    h.append(f"Content-Type: {m['ctype']}")
    body=m['body']
    if m['cte']=='base64':
        h.append('Content-Transfer-Encoding: base64')
        data=body if isinstance(body,bytes) else body.encode('utf-8')
        enc=base64.encodebytes(data).decode().replace('\n','\r\n')
        return '\r\n'.join(h)+'\r\n\r\n'+enc
    if m['cte']=='quoted-printable':
        h.append('Content-Transfer-Encoding: quoted-printable')
        return '\r\n'.join(h)+'\r\n\r\n'+body
    if m['cte']=='8bit':
        h.append('Content-Transfer-Encoding: 8bit')
    return '\r\n'.join(h)+'\r\n\r\n'+body.replace('\r\n','\n').replace('\n','\r\n')

def text_part(body, ctype='text/plain; charset=utf-8'):
    return f'Content-Type: {ctype}\r\nContent-Transfer-Encoding: 8bit\r\n\r\n'+body.replace('\n','\r\n')

def attach(name, data, ctype='application/octet-stream'):
    if isinstance(data,str): data=data.encode('utf-8')
    enc=base64.encodebytes(data).decode().replace('\n','\r\n')
    return f'Content-Type: {ctype}; name="{name}"\r\nContent-Disposition: attachment; filename="{name}"\r\nContent-Transfer-Encoding: base64\r\n\r\n'+enc

SIG_LUKE="\n\nKind regards,\nLuke Rich\nHead of Year 8\nThe Beaulieu Park School\n"
SUPPLIER='bookings@coach-hire.example.com'
PARTNER='mash@essex.gov.uk'

# --- clean messages
add('clean-internal-staff-meeting', LUKE, [f'staff@{S}'], 'Staff briefing moved to Thursday',
    "Hi all,\n\nThe staff briefing is moving to Thursday 8:15 in the library. Please bring your planners."+SIG_LUKE,
    {f'staff@{S}':'allow'}, [])
add('clean-external-order', ROSIE, ['orders@stationery.example.com'], 'Order for Science department',
    "Hello,\n\nPlease could we order 40 packs of A4 lined paper and 12 boxes of whiteboard pens.\nPO number 4471023.\n\nThanks,\nRosie Griffiths\nScience Technician", {'orders@stationery.example.com':'allow'}, [])
add('clean-newsletter-special-terms', ROSIE, ['editor@localpaper.example.co.uk'], 'Our SEND provision open evening',
    "Dear Editor,\n\nWe are holding an open evening about our SEN and SEND provision, free school meals and pupil premium support for families. All welcome.\n\nRosie Griffiths", {'editor@localpaper.example.co.uk':'allow'}, [])
add('clean-empty-body', LUKE, ['info@museum.example.org'], 'Visit', "", {'info@museum.example.org':'allow'}, [])
add('clean-staff-name-is-also-a-pupil', HARPER, [SUPPLIER], 'Coach booking 12 March',
    "Hello,\n\nPlease confirm the coach for 52 pupils and 5 staff on 12 March, leaving 8:30.\n\nMany thanks\nHarper Wilson\nTrips Coordinator", {SUPPLIER:'allow'}, [])
add('clean-common-words-lowercase', ROSIE, ['hr@recruitment.example.com'], 'Advert wording',
    "Hi,\n\nFor the advert: we will young people to thrive, and grace wood panelling in the hall is being restored. The rose hill walk is on the map.\n\nRosie", {'hr@recruitment.example.com':'allow'}, [])
add('clean-initials-only', LUKE, [SUPPLIER], 'Dietary requirements for the trip',
    "Hi,\n\nTwo pupils (G.W. and R.H. in 8A) are vegetarian. Grace and Rose will also need a packed lunch.\n\nLuke", {SUPPLIER:'allow'}, [])
add('clean-phone-looks-like-nhs', LUKE, [SUPPLIER], 'Call back',
    "Please call me on +44 7700900000 or the office tel 01632 960 001. Invoice ref 9434765919 is paid.\n\nLuke", {SUPPLIER:'allow'}, [])
add('clean-trip-dates', LUKE, [SUPPLIER], 'Trip dates',
    "Could we hold 12/03/2027 and 19-03-2027 for the Year 8 trip? Deposit paid 01/11/2026.\n\nLuke", {SUPPLIER:'allow'}, [])
add('clean-invalid-upn', LUKE, ['support@mis-vendor.example.com'], 'Import error',
    "The import rejected UPN B201439623223 (check letter) and reference K6817777193857.\n\nLuke", {'support@mis-vendor.example.com':'allow'}, [])
add('clean-adno-shaped-order-number', ROSIE, ['orders@stationery.example.com'], 'Re: order 000905',
    "Your order 000905 arrived damaged. Please resend.\n\nRosie", {'orders@stationery.example.com':'allow'}, [])
add('clean-cloud-mention', LUKE, [SUPPLIER], 'Photos',
    "I saved the coach photos in my Dropbox, I'll send them another way.\n\nLuke", {SUPPLIER:'allow'}, [])
add('clean-cloud-link-no-pupil-data', LUKE, [SUPPLIER], 'Menu options',
    "Menu options are here: https://www.dropbox.com/s/abc123/menu.pdf?dl=0\n\nLuke", {SUPPLIER:'allow'}, ['personal_cloud_link'])
add('clean-pupil-writes-to-university', '"Grace Wood" <grace.wood@'+P+'>', ['admissions@uni.example.ac.uk'], 'Question about open day',
    "Hello,\n\nCould I book two places for the open day?\n\nThanks,\nGrace Wood", {'admissions@uni.example.ac.uk':'allow'}, [])
add('clean-in-hours-to-pupil', LUKE, [f'grace.wood@{P}'], 'Homework',
    "Hi Grace,\n\nPlease remember your homework for tomorrow.\n\nMr Rich", {f'grace.wood@{P}':'allow'}, [])

# --- pupil names in body
add('name-body-external-supplier', LUKE, [SUPPLIER], 'Seat request for the trip',
    "Hello,\n\nCould Leah Walker sit near the front of the coach? She gets travel sick.\n"+SIG_LUKE, {SUPPLIER:'reject'}, ['pupil_name'])
add('name-body-internal', LUKE, [f'rosie.griffiths1@{S}'], 'Behaviour in science',
    "Hi Rosie,\n\nJust a heads-up that Tom Clark and Freya Rogers were moved in period 3.\n"+SIG_LUKE, {f'rosie.griffiths1@{S}':'tag'}, ['pupil_name'])
add('name-body-trust-school', LUKE, [f'head.of.year9@{BOS}'], 'Transfer',
    "Hi,\n\nYusuf Kelly is moving to you after half term; I'll send the file through the MIS.\n"+SIG_LUKE, {f'head.of.year9@{BOS}':'tag'}, ['pupil_name'])
add('name-mixed-recipients', LUKE, [f'rosie.griffiths1@{S}', SUPPLIER], 'Trip seating',
    "Hi both,\n\nIsaac Barker needs a seat near a teacher.\n"+SIG_LUKE, {f'rosie.griffiths1@{S}':'tag', SUPPLIER:'reject'}, ['pupil_name'])
add('name-bcc-external', LUKE, [f'rosie.griffiths1@{S}'], 'Trip seating', "Amy Holmes is on the reserve list.\n"+SIG_LUKE,
    {f'rosie.griffiths1@{S}':'tag', 'friend@hotmail.co.uk':'reject'}, ['pupil_name'], bcc=['friend@hotmail.co.uk'])
add('name-lowercase-external', ROSIE, ['tutor@tuition.example.com'], 'tutoring',
    "hi, can you fit in joe nowak on tuesdays? thanks rosie", {'tutor@tuition.example.com':'reject'}, ['pupil_name'])
add('name-possessive-external', LUKE, ['coach@football.example.org'], 'Kit',
    "Rose Hill's football boots were left on your minibus.\n\nLuke", {'coach@football.example.org':'reject'}, ['pupil_name'])
add('name-common-words-capitalised', LUKE, ['coach@football.example.org'], 'Team sheet',
    "Will Young and Grace Wood are playing on Saturday.\n\nLuke", {'coach@football.example.org':'reject'}, ['pupil_name'])
add('name-register-format', LUKE, [f'attendance@{S}'], 'Late marks',
    "Late this morning:\nHILL, Rose\nOKAFOR Chidi\nWalker, Leah\n", {f'attendance@{S}':'tag'}, ['pupil_name'])
add('name-middle-name-external', LUKE, ['photographer@photos.example.com'], 'Photo order',
    "Please reprint the photo for Grace Elizabeth Wood.\n\nLuke", {'photographer@photos.example.com':'reject'}, ['pupil_name'])
add('name-preferred-name-external', LUKE, ['club@chess.example.org'], 'Chess club',
    "Kuba Nowak would like to join the Saturday chess club.\n\nLuke", {'club@chess.example.org':'reject'}, ['pupil_name'])
add('name-accents-apostrophes-external', LUKE, ['club@chess.example.org'], 'Chess club',
    "ZOE OBRIEN SMITH and rosie wisniewski have signed up.\n\nLuke", {'club@chess.example.org':'reject'}, ['pupil_name'])
add('name-line-break-between', LUKE, ['club@chess.example.org'], 'Chess',
    "The winner was Callum\nFox-Pitt from 12D.\n\nLuke", {'club@chess.example.org':'reject'}, ['pupil_name'])
add('name-reply-quoted-history', ROSIE, [f'luke.rich0@{S}'], 'Re: Behaviour in science',
    "Thanks Luke, noted.\n\nRosie\n\nOn Tue, 24 Nov 2026 at 16:02, Luke Rich <luke.rich0@beaulieupark.example.sch.uk> wrote:\n> Hi Rosie,\n> Just a heads-up that Tom\n> Clark was moved in period 3.\n> Luke\n",
    {f'luke.rich0@{S}':'tag'}, ['pupil_name'])

# --- subject lines
add('subject-name-internal', LUKE, [f'rosie.griffiths1@{S}'], 'Dan Barker - detention tonight',
    "Hi Rosie, can you cover the detention?\n\nLuke", {f'rosie.griffiths1@{S}':'notify'}, ['pupil_name'])
add('subject-name-external', LUKE, ['club@chess.example.org'], 'Mia Matthews - chess results', "Results attached later.\n\nLuke",
    {'club@chess.example.org':'reject'}, ['pupil_name'])
add('subject-rfc2047-accented', LUKE, [f'rosie.griffiths1@{S}'], 'Zoë O’Brien-Smith report', "Report to follow.\n\nLuke",
    {f'rosie.griffiths1@{S}':'notify'}, ['pupil_name'])
add('subject-name-to-parent', LUKE, ['karen.wood@example.com'], 'Grace Wood - parents evening', "Dear Mrs Wood,\n\nThank you for coming in. Grace Wood is doing well.\n\nMr Rich",
    {'karen.wood@example.com':'notify'}, ['pupil_name'])

# --- contacts
add('contact-parent-own-child', LUKE, ['karen.wood@example.com'], 'Parents evening follow-up',
    "Dear Mrs Wood,\n\nFurther to our meeting, Grace Wood has caught up on her science work.\n\nMr Rich", {'karen.wood@example.com':'tag'}, ['pupil_name'])
add('contact-parent-other-child', LUKE, ['karen.wood@example.com'], 'Parents evening follow-up',
    "Dear Mrs Wood,\n\nGrace Wood and Rose Hill have been arguing at lunch.\n\nMr Rich", {'karen.wood@example.com':'reject'}, ['pupil_name'])
add('contact-siblings-gmail', LUKE, ['raj.patel@gmail.com'], 'Music lessons',
    "Dear Mr Patel,\n\nPriya Patel and Ayaan Patel both have violin on Tuesdays.\n\nMr Rich", {'raj.patel@gmail.com':'tag'}, ['pupil_name'])
add('contact-gmail-other-child', LUKE, ['mairead.obrien@gmail.com'], 'Lift share',
    "Hi Mairead,\n\nZoë O’Brien-Smith can share a lift with Chidi Okafor on Friday.\n\nLuke", {'mairead.obrien@gmail.com':'reject'}, ['pupil_name'])
add('contact-preferred-name', LUKE, ['sarah.young@example.com'], 'Will',
    "Dear Ms Young,\n\nWill Young was a star in assembly today.\n\nMr Rich", {'sarah.young@example.com':'tag'}, ['pupil_name'])
add('contact-cloud-link-with-child', LUKE, ['karen.wood@example.com'], 'Report',
    "Dear Mrs Wood,\n\nGrace Wood's report is here: https://www.dropbox.com/s/q1w2e3/report.pdf\n\nMr Rich", {'karen.wood@example.com':'quarantine'}, ['personal_cloud_link','pupil_name'])

# --- identifiers
add('upn-external', LUKE, ['support@mis-vendor.example.com'], 'Import error',
    "Please check the record with UPN B201439623222, it will not import.\n\nLuke", {'support@mis-vendor.example.com':'reject'}, ['upn'])
add('upn-temporary-lowercase-external', LUKE, ['support@mis-vendor.example.com'], 'Temporary UPN',
    "Her temporary upn is b87321352265z until the CTF arrives.\n\nLuke", {'support@mis-vendor.example.com':'reject'}, ['upn'])
add('uln-exam-board-partner', LUKE, ['entries@aqa.org.uk'], 'Late entry',
    "Please add a late entry for candidate ULN: 9051564081 (Leah Walker).\n\nExams Office", {'entries@aqa.org.uk':'tag'}, ['uln','pupil_name'])
add('nhs-number-partner', LUKE, ['school.nurse@nhs.net'], 'Immunisation record',
    "Hi,\n\nNHS no. 999 536 3763 is Chidi Okafor's; please update the immunisation record.\n\nLuke", {'school.nurse@nhs.net':'tag'}, ['nhs_number','pupil_name'])
add('ni-number-external', ROSIE, ['payroll@payroll-bureau.example.com'], 'New starter',
    "New starter details: NI number SE 65 25 40 C, start date 1 December.\n\nRosie", {'payroll@payroll-bureau.example.com':'reject'}, ['ni_number'])
add('adno-labelled-external', ROSIE, ['lockers@lockers.example.com'], 'Locker',
    "Please allocate a locker to Adno 000905.\n\nRosie", {'lockers@lockers.example.com':'reject'}, ['admission_number'])
add('adno-next-to-name-internal', ROSIE, [f'office@{S}'], 'Locker',
    "Chidi Okafor 905 needs a new locker key.\n\nRosie", {f'office@{S}':'tag'}, ['pupil_name','admission_number'])
add('dob-near-name-internal', LUKE, [f'office@{S}'], 'Records check',
    "Can you check Rose Hill, 30/06/2012, her record shows the wrong tutor group?\n\nLuke", {f'office@{S}':'tag'}, ['pupil_name','date_of_birth'])
add('dob-label-external', LUKE, ['bookings@activity-centre.example.com'], 'Booking form',
    "Participant 14: DOB 4 November 2013, no allergies.\n\nLuke", {'bookings@activity-centre.example.com':'reject'}, ['date_of_birth'])

# --- special category
add('special-with-name-partner', LUKE, [PARTNER], 'Referral',
    "Hello,\n\nFollowing our call, Chidi Okafor is now on a child protection plan and has a social worker allocated.\n\nLuke Rich\nDSL", {PARTNER:'tag'}, ['pupil_name','special_category'])
add('special-with-name-external', LUKE, ['bookings@activity-centre.example.com'], 'Medical needs',
    "Hi,\n\nAmara Palmer has epilepsy and carries medication; Mia Matthews has an EHCP.\n\nLuke", {'bookings@activity-centre.example.com':'reject'}, ['pupil_name','special_category'])
add('special-with-name-to-pupil', LUKE, [f'will.young@{P}'], 'Your review',
    "Hi Will,\n\nYour EHCP review meeting is on Monday. Will Young, please bring your planner.\n\nMr Rich", {f'will.young@{P}':'quarantine'}, ['pupil_name','special_category'])
add('special-with-name-internal', LUKE, [f'senco@{S}'], 'Support plan',
    "Hi,\n\nCan we discuss SEN support for Joe Adams and whether he gets free school meals?\n\nLuke", {f'senco@{S}':'tag'}, ['pupil_name','special_category'])

# --- encodings and structure
add('html-body-external', LUKE, [SUPPLIER], 'Seating',
    '<html><head><style>b{color:red}</style></head><body><p>Please seat <b>Leah</b>&nbsp;Walker at the front.</p><!-- internal note: Tom Clark --><p>Thanks</p></body></html>',
    {SUPPLIER:'reject'}, ['pupil_name'], ctype='text/html; charset=utf-8')
add('qp-soft-break-external', LUKE, [SUPPLIER], 'Seating',
    "Please seat Bethany Har=\r\nvey at the front of the coach, she gets travel si=\r\nck.\r\n\r\nLuke\r\n", {SUPPLIER:'reject'}, ['pupil_name'], cte='quoted-printable')
add('base64-body-external', LUKE, [SUPPLIER], 'Seating',
    "Please seat Evelyn Barnes at the front.\n\nLuke\n", {SUPPLIER:'reject'}, ['pupil_name'], cte='base64')
add('latin1-body-external', LUKE, [SUPPLIER], 'Seating',
    "Please seat Zo=EB O'Brien-Smith at the front.\r\n\r\nLuke\r\n", {SUPPLIER:'reject'}, ['pupil_name'], ctype='text/plain; charset=iso-8859-1', cte='quoted-printable')
add('cp1252-curly-apostrophe-external', LUKE, [SUPPLIER], 'Seating',
    "Please seat Nia O=92Connor at the front.\r\n\r\nLuke\r\n", {SUPPLIER:'reject'}, ['pupil_name'], ctype='text/plain; charset=windows-1252', cte='quoted-printable')

fwd = "From: Tom Clark <tom.clark19@"+P+">\r\nTo: luke.rich0@"+S+"\r\nSubject: my coursework\r\nDate: Mon, 23 Nov 2026 09:00:00 +0000\r\nContent-Type: text/plain\r\n\r\nSir, here is my coursework. Theo Wilkinson helped me.\r\n"
add('forwarded-rfc822-external', LUKE, ['moderator@exam-moderation.example.com'], 'Fwd: my coursework', None,
    {'moderator@exam-moderation.example.com':'reject'}, ['pupil_name','unencrypted_personal_attachment'],
    parts=[text_part("Forwarding for moderation.\n\nLuke"), 'Content-Type: message/rfc822\r\nContent-Disposition: attachment; filename="coursework.eml"\r\n\r\n'+fwd])
inner = "From: a@example.com\r\nSubject: inner\r\nContent-Type: text/plain\r\n\r\nInner note about Kacper Gray.\r\n"
outer = "From: b@example.com\r\nSubject: outer\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"in\"\r\n\r\n--in\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n--in\r\nContent-Type: message/rfc822\r\n\r\n"+inner+"--in--\r\n"
add('nested-rfc822-external', LUKE, ['moderator@exam-moderation.example.com'], 'Fwd: outer', None,
    {'moderator@exam-moderation.example.com':'reject'}, ['pupil_name','unencrypted_personal_attachment'],
    parts=[text_part("See the chain below."), 'Content-Type: message/rfc822\r\nContent-Disposition: attachment; filename="outer.eml"\r\n\r\n'+outer])

# --- tables
ROSTER_ROWS=[('Walker','Leah','25/11/2010','M881401193754'),('Clark','Tom','27/07/2012','A881401130093'),('Rogers','Freya','23/12/2014','L881401182108'),
             ('Fisher','Harry','11/01/2013','C881401147101'),('Barnes','Evelyn','21/01/2013','H881401128378'),('Gray','Kacper','02/07/2010','V881401166500'),
             ('Kaur','Hannah','07/03/2012','J881401149848'),('Williams','Wei','05/09/2013','E881401164068')]
csvtext="Surname,Forename,DOB,UPN,Reg\r\n"+''.join(f"{s},{f},{d},{u},8A\r\n" for s,f,d,u in ROSTER_ROWS)
add('class-list-csv-to-supplier', LUKE, [SUPPLIER], 'Trip list', None, {SUPPLIER:'reject'},
    ['pupil_name','date_of_birth','upn','bulk_pupil_data','unencrypted_personal_attachment'],
    parts=[text_part("Hi, the trip list is attached.\n\nLuke"), attach('8A trip list.csv', csvtext, 'text/csv')])
add('class-list-csv-to-partner', LUKE, [PARTNER], 'Cohort list', None, {PARTNER:'quarantine'},
    ['pupil_name','date_of_birth','upn','bulk_pupil_data','unencrypted_personal_attachment'],
    parts=[text_part("As requested, the cohort list.\n\nLuke"), attach('cohort.csv', csvtext, 'text/csv')])
add('class-list-csv-to-own-gmail', LUKE, ['luke.rich27@gmail.com'], 'to finish at home', None, {'luke.rich27@gmail.com':'reject'},
    ['pupil_name','date_of_birth','upn','bulk_pupil_data','unencrypted_personal_attachment'],
    parts=[text_part("marking"), attach('8A.csv', csvtext, 'text/csv')])
add('class-list-csv-internal', LUKE, [f'rosie.griffiths1@{S}'], '8A list', None, {f'rosie.griffiths1@{S}':'tag'},
    ['pupil_name','date_of_birth','upn','bulk_pupil_data','unencrypted_personal_attachment'],
    parts=[text_part("List attached."), attach('8A.csv', csvtext, 'text/csv')])
tsv="Forename\tYear\tTutor\tSurname\r\nHarry\t8\tMr Rich\tFisher\r\nKacper\t12\tMs Long\tGray\r\n"
add('tsv-same-row-other-columns', LUKE, ['club@chess.example.org'], 'Chess ladder', None, {'club@chess.example.org':'reject'},
    ['pupil_name','unencrypted_personal_attachment'],
    parts=[text_part("Ladder attached."), attach('ladder.txt', tsv, 'application/octet-stream')])
add('renamed-csv-as-jpg', LUKE, [SUPPLIER], 'photo', None, {SUPPLIER:'reject'},
    ['pupil_name','date_of_birth','upn','bulk_pupil_data','unencrypted_personal_attachment'],
    parts=[text_part("photo"), attach('IMG_0042.jpg', csvtext, 'image/jpeg')])
names_list="Year 9 netball squad:\n"+"\n".join(["Zainab Ali","Bethany Harvey","Hannah Kaur","Joe Nowak","Isabella Mason","Yusuf Kelly"])+"\n\nLuke"
add('bulk-names-in-body-internal', LUKE, [f'pe@{S}'], 'Netball squad', names_list, {f'pe@{S}':'tag'}, ['pupil_name','bulk_pupil_data'])
add('bulk-names-in-body-contact', LUKE, ['karen.wood@example.com'], 'Netball squad', names_list, {'karen.wood@example.com':'reject'}, ['pupil_name','bulk_pupil_data'])

# --- safeguarding / contact rules
add('personal-account-to-pupil', '"Luke Rich" <luke.rich27@gmail.com>', [f'grace.wood@{P}'], 'hi',
    "Hi Grace, can you send me your essay tonight?\nLuke", {f'grace.wood@{P}':'quarantine'}, ['personal_account_to_pupil'])
add('personal-account-by-display-name', '"Isaac Pearson" <ipearson.home@outlook.com>', [f'will.young@{P}'], 'homework',
    "Will - homework is on the website.\nIsaac", {f'will.young@{P}':'quarantine'}, ['personal_account_to_pupil'])
add('school-account-to-pupil-personal', LUKE, ['gracie.w2013@gmail.com'], 'Coursework',
    "Hi Grace,\n\nPlease send the coursework to my school address.\n\nMr Rich", {'gracie.w2013@gmail.com':'quarantine'}, ['school_account_to_pupil_personal'])
add('out-of-hours-to-pupil', LUKE, [f'grace.wood@{P}'], 'Homework',
    "Hi Grace, just checking you are ok for tomorrow's test.\n\nMr Rich", {f'grace.wood@{P}':'notify'}, ['out_of_hours_pupil_contact'],
    date='Sat, 21 Nov 2026 21:30:00 +0000')
add('parent-gmail-not-a-pupil', LUKE, ['ngozi.okafor@gmail.com'], 'Parents evening',
    "Dear Mrs Okafor,\n\nThank you for booking a parents' evening slot.\n\nMr Rich", {'ngozi.okafor@gmail.com':'allow'}, [])

# --- unreadable parts and bad input
add('unknown-binary-external', LUKE, [SUPPLIER], 'data', None, {SUPPLIER:'quarantine'}, [],
    parts=[text_part("file attached"), attach('export.dat', bytes(range(256))*8)], complete=False)
add('unknown-binary-internal', LUKE, [f'rosie.griffiths1@{S}'], 'data', None, {f'rosie.griffiths1@{S}':'tag'}, [],
    parts=[text_part("file attached"), attach('export.dat', bytes(range(256))*8)], complete=False)
add('image-attachment-external', LUKE, [SUPPLIER], 'Coach photo', None, {SUPPLIER:'allow'}, [],
    parts=[text_part("Photo of the damaged seat attached."), attach('seat.jpg', fx('ocr/seat-photo.jpg'), 'image/jpeg')])
# --- text in pictures (OCR): what a copier, a screenshot or a phone makes
add('image-screenshot-class-list-external', LUKE, [SUPPLIER], 'Names for the coach', None, {SUPPLIER:'reject'},
    ['pupil_name','upn','date_of_birth','bulk_pupil_data','unencrypted_personal_attachment'],
    parts=[text_part("Hi, screenshot of the list from SIMS below.\n\nLuke"), attach('image001.png', fx('ocr/class-list-screenshot.png'), 'image/png')])
add('image-copier-scan-pdf-partner', ROSIE, ['referrals@essex.gov.uk'], 'Scanned from a Xerox multifunction printer', None, {'referrals@essex.gov.uk':'quarantine'},
    ['pupil_name','upn','date_of_birth','bulk_pupil_data','unencrypted_personal_attachment'],
    parts=[text_part("Please open the attached document. It was scanned and sent to you using a Xerox multifunction printer."), attach('scan0001.pdf', fx('ocr/class-list-scan.pdf'), 'application/pdf')])
add('image-phone-photo-own-gmail', LUKE, ['luke.rich27@gmail.com'], 'list', None, {'luke.rich27@gmail.com':'reject'},
    ['pupil_name','upn','date_of_birth','bulk_pupil_data','unencrypted_personal_attachment'],
    parts=[text_part("Sent from my iPhone"), attach('IMG_4021.jpg', fx('ocr/class-list-phone-photo.jpg'), 'image/jpeg')])
add('image-logo-signature-external', ROSIE, ['orders@stationery.example.com'], 'Order for next term', None, {'orders@stationery.example.com':'allow'}, [],
    parts=[text_part("Hello, could you quote for 40 boxes of A4 paper?\n\nRosie Griffiths\nThe Beaulieu Park School"), attach('logo.png', fx('ocr/school-logo.png'), 'image/png')])
bad=("From: "+LUKE+"\r\nTo: "+SUPPLIER+"\r\nSubject: broken\r\nDate: "+DATE+"\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"zz\"\r\n\r\n--zz\r\nContent-Type: text/plain; charset=x-unknown-charset\r\n\r\nPlease seat Harry Fisher at the front.\r\n--zz\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\n!!!not base64@@@\r\n")
add('malformed-mime-unterminated', None, None, None, None, {SUPPLIER:'reject'}, ['pupil_name'], raw=bad)

# --- attachments of every format
XL='application/vnd.openxmlformats-officedocument.spreadsheetml.sheet'
add('attach-xlsx-class-list-external', LUKE, [SUPPLIER], 'Trip list', None, {SUPPLIER:'reject'},
    ['pupil_name','date_of_birth','upn','bulk_pupil_data','unencrypted_personal_attachment','special_category'],
    parts=[text_part("Hi, the list for the coach is attached.\n\nLuke"), attach('8A trip.xlsx', fx('class-list.xlsx'), XL)])
add('attach-xlsx-stationery-external', ROSIE, ['orders@stationery.example.com'], 'Order', None, {'orders@stationery.example.com':'allow'}, [],
    parts=[text_part("Order attached.\n\nRosie"), attach('order.xlsx', fx('stationery.xlsx'), XL)])
add('attach-docx-pastoral-to-own-gmail', LUKE, ['luke.rich27@gmail.com'], 'to read at home', None, {'luke.rich27@gmail.com':'reject'},
    ['pupil_name','unencrypted_personal_attachment'],
    parts=[text_part("note"), attach('pastoral note.docx', fx('pastoral-note.docx'), 'application/vnd.openxmlformats-officedocument.wordprocessingml.document')])
add('attach-pptx-awards-internal', LUKE, [f'rosie.griffiths1@{S}'], 'Assembly slides', None, {f'rosie.griffiths1@{S}':'tag'},
    ['pupil_name','special_category','unencrypted_personal_attachment'],
    parts=[text_part("Slides for Friday."), attach('awards.pptx', fx('awards.pptx'), 'application/vnd.openxmlformats-officedocument.presentationml.presentation')])
add('attach-ods-list-partner', LUKE, ['entries@aqa.org.uk'], 'Entries', None, {'entries@aqa.org.uk':'tag'},
    ['pupil_name','upn','unencrypted_personal_attachment'],
    parts=[text_part("Entries attached."), attach('entries.ods', fx('list.ods'), 'application/vnd.oasis.opendocument.spreadsheet')])
add('attach-odt-letter-external', LUKE, [SUPPLIER], 'Letter', None, {SUPPLIER:'reject'}, ['pupil_name','unencrypted_personal_attachment'],
    parts=[text_part("Letter attached."), attach('letter.odt', fx('letter.odt'), 'application/vnd.oasis.opendocument.text')])
add('attach-pdf-report-external', LUKE, ['tutor@tuition.example.com'], 'Report', None, {'tutor@tuition.example.com':'reject'},
    ['pupil_name','unencrypted_personal_attachment'],
    parts=[text_part("Report attached."), attach('report.pdf', fx('report.pdf'), 'application/pdf')])
add('attach-pdf-user-password-sent-by-text', LUKE, ['tutor@tuition.example.com'], 'Report', None, {'tutor@tuition.example.com':'allow'},
    ['encrypted_attachment'],
    parts=[text_part("Report attached; I'll text you the password.\n\nLuke"), attach('report.pdf', fx('report-user-password.pdf'), 'application/pdf')])
add('attach-zip-password-in-body', LUKE, [SUPPLIER], 'Trip list (encrypted)', None, {SUPPLIER:'reject'},
    ['encrypted_attachment','password_in_body'],
    parts=[text_part("List attached as a protected zip.\nThe password is Tr1p2026\n\nLuke"), attach('trip.zip', fx('trip-aes.zip'), 'application/zip')])
add('attach-zip-password-elsewhere', LUKE, [SUPPLIER], 'Trip list (encrypted)', None, {SUPPLIER:'allow'}, ['encrypted_attachment'],
    parts=[text_part("List attached as a protected zip; password by phone.\n\nLuke"), attach('trip.zip', fx('trip-aes.zip'), 'application/zip')])
add('attach-zip-nested-plain', LUKE, [PARTNER], 'Files', None, {PARTNER:'quarantine'},
    ['pupil_name','date_of_birth','upn','bulk_pupil_data','unencrypted_personal_attachment'],
    parts=[text_part("Files."), attach('files.zip', fx('outer.zip'), 'application/zip')])
add('attach-encrypted-xlsx-password-in-body', LUKE, [SUPPLIER], 'List', None, {SUPPLIER:'reject'}, ['encrypted_attachment','password_in_body'],
    parts=[text_part("List attached, password: Sunflower22"), attach('list.xlsx', fx('class-list-encrypted.xlsx'), XL)])
add('attach-rtf-letter-external', LUKE, [SUPPLIER], 'Letter', None, {SUPPLIER:'reject'}, ['pupil_name','unencrypted_personal_attachment'],
    parts=[text_part("Letter."), attach('letter.rtf', fx('letter.rtf'), 'application/rtf')])
add('attach-zip-bomb-external', LUKE, [SUPPLIER], 'Files', None, {SUPPLIER:'quarantine'}, [],
    parts=[text_part("Files."), attach('files.zip', fx('bomb.zip'), 'application/zip')], complete=False)
# legacy Office 97-2003 formats, as old templates and MIS exports still produce them
DOC='application/msword'
add('attach-doc-pastoral-to-tutor', LUKE, ['tutor@tuition.example.com'], 'Background for the sessions', None, {'tutor@tuition.example.com':'reject'},
    ['pupil_name','unencrypted_personal_attachment'],
    parts=[text_part("Hi Sam,\n\nSome background before you start with him - the old pastoral note is attached.\n\nThanks,\nLuke"), attach('Pastoral note (old).doc', fx('pastoral-note.doc'), DOC)])
add('attach-doc-pta-minutes-external', ROSIE, ['chair@pta-friends.example.org'], 'PTA minutes', None, {'chair@pta-friends.example.org':'allow'}, [],
    parts=[text_part("Minutes from Tuesday attached (saved in the old format, sorry).\n\nRosie"), attach('PTA minutes.doc', fx('pta-minutes.doc'), DOC)])
add('attach-ppt-awards-to-own-gmail', LUKE, ['luke.rich27@gmail.com'], 'assembly slides to finish at home', None, {'luke.rich27@gmail.com':'reject'},
    ['pupil_name','special_category','unencrypted_personal_attachment'],
    parts=[text_part(""), attach('awards.ppt', fx('awards.ppt'), 'application/vnd.ms-powerpoint')])
add('attach-xls-class-list-external', LUKE, [SUPPLIER], 'Names for the coach', None, {SUPPLIER:'reject'},
    ['pupil_name','date_of_birth','upn','bulk_pupil_data','unencrypted_personal_attachment','special_category'],
    parts=[text_part("Hi, names attached as requested.\n\nLuke"), attach('8A.xls', fx('class-list.xls'), 'application/vnd.ms-excel')])

# tables pasted into the body: Outlook turns an Excel range into an HTML table, and a plain-text
# copy keeps the tabs; forename and surname stand in separate cells of one row
add('body-html-table-pasted-from-excel-external', LUKE, [SUPPLIER], 'Seating for Friday', None, {SUPPLIER:'reject'}, ['pupil_name'],
    parts=[text_part('<html><body><p>Hi Dave,</p><p>Seating as discussed:</p><table border="1" style="border-collapse:collapse">'
        '<tr><td><b>Surname</b></td><td><b>Forename</b></td><td><b>Reg</b></td><td><b>Seat</b></td></tr>'
        '<tr><td>Clark</td><td>Tom</td><td>10C</td><td>1A</td></tr>'
        '<tr><td>ROGERS</td><td>Freya</td><td>8C</td><td>1B</td></tr>'
        '</table><p>Thanks,<br>Luke</p></body></html>', 'text/html; charset=utf-8')])
add('body-tab-separated-names-external', LUKE, [SUPPLIER], 'names for the coach', None, {SUPPLIER:'reject'}, ['pupil_name'],
    parts=[text_part("Hi Dave,\n\nNames for the coach below.\n\nSurname\tForename\tReg\nClark\tTom\t10C\nRogers\tFreya\t8C\n\nThanks,\nLuke")])
add('body-tab-separated-order-external', ROSIE, ['orders@stationery.example.com'], 'Order', None, {'orders@stationery.example.com':'allow'}, [],
    parts=[text_part("Hello,\n\nPlease send:\n\nItem\tQty\tDept\nWhiteboard pens\t12\tMaths\nA4 paper (box)\t3\tEnglish\nGlue sticks\t30\tArt\n\nRosie Griffiths\nSchool office")])
# an MIS "Name" column written surname first, and a middle initial in prose
add('attach-csv-name-column-surname-first-external', LUKE, ['events@climbing-centre.example.com'], 'Group booking', None, {'events@climbing-centre.example.com':'reject'},
    ['pupil_name','unencrypted_personal_attachment'],
    parts=[text_part("Hi,\n\nOur group for the 14th is attached.\n\nLuke"), attach('group.csv', "Name,Reg,Harness size\r\nClark Tom,10C,M\r\nRogers Freya,8C,S\r\nFisher Harry,8B,M\r\n".encode(), 'text/csv')])
add('body-middle-initial-to-tutor', LUKE, ['tutor@tuition.example.com'], 'Thursday', None, {'tutor@tuition.example.com':'reject'}, ['pupil_name'],
    parts=[text_part("Hi Sam,\n\nTom H. Clark will join the Thursday group from next week.\n\nLuke")])
# dates of birth as spreadsheets and MIS exports write them
add('body-dob-excel-and-iso-forms-partner', LUKE, [PARTNER], 'Referral follow-up', None, {PARTNER:'tag'}, ['pupil_name','date_of_birth','special_category'],
    parts=[text_part("Hello,\n\nFurther to my call: Leah Walker, DOB 25-Nov-2010, Year 11.\nHer brother is on roll too (born 2012-07-27T00:00:00 per the export).\n\nLuke Rich\nDSL")])
# pupils' own addresses written in the text identify them
add('body-pupil-accounts-to-edtech-supplier', LUKE, ['onboarding@maths-app.example.com'], 'Class set-up 10C', None, {'onboarding@maths-app.example.com':'reject'}, ['pupil_name'],
    parts=[text_part("Hi,\n\nCould you create logins for these two to start with:\n\nleah.walker5@pupils.beaulieupark.example.sch.uk\ntom.clark19@pupils.beaulieupark.example.sch.uk\n\nThanks,\nLuke")])
add('body-pupil-account-to-own-parent', LUKE, ['maya.walker144@example.com'], 'Login details', None, {'maya.walker144@example.com':'tag'}, ['pupil_name'],
    parts=[text_part("Dear Ms Walker,\n\nThe school address to use for the homework platform is leah.walker5@pupils.beaulieupark.example.sch.uk.\n\nKind regards,\nLuke Rich")])
# the password on a line of its own, with no "password:" before it: tried against the zip
add('attach-zip-password-alone-on-a-line', LUKE, [SUPPLIER], 'Trip list (protected)', None, {SUPPLIER:'reject'},
    ['encrypted_attachment','password_in_body'],
    parts=[text_part("Hi Dave,\n\nList attached as a protected zip, you'll need this to open it:\n\nTr1p2026\n\nThanks,\nLuke"), attach('trip.zip', fx('trip-aes.zip'), 'application/zip')])
# a filled-in PDF form: the child's details are field values, not page text
add('attach-pdf-filled-form-external', LUKE, ['intake@counselling.example.com'], 'Referral', None, {'intake@counselling.example.com':'reject'},
    ['pupil_name','date_of_birth','special_category','unencrypted_personal_attachment'],
    parts=[text_part("Hello,\n\nPlease find the completed form attached.\n\nLuke Rich"), attach('Referral form.pdf', fx('referral-form.pdf'), 'application/pdf')])
# names only in a chart (and the workbook PowerPoint embeds for it)
add('attach-pptx-chart-names-to-own-gmail', LUKE, ['luke.rich27@gmail.com'], 'slides for parents evening', None, {'luke.rich27@gmail.com':'reject'},
    ['pupil_name','unencrypted_personal_attachment'],
    parts=[text_part("to finish at home"), attach('Reading ages 8C.pptx', fx('reading-ages-chart.pptx'), 'application/vnd.openxmlformats-officedocument.presentationml.presentation')])
# a spreadsheet saved as PDF: names in neighbouring cells, nothing else personal
add('attach-pdf-seating-plan-external', LUKE, [SUPPLIER], 'Coach seating', None, {SUPPLIER:'reject'},
    ['pupil_name','unencrypted_personal_attachment','bulk_pupil_data'],
    parts=[text_part("Hi Dave,\n\nSeating plan for Friday attached as a PDF.\n\nLuke"), attach('Seating plan.pdf', fx('seating-plan.pdf'), 'application/pdf')])
# an export that is not quite regular CSV: a title line, a blank line, ragged rows
add('attach-csv-irregular-export-external', LUKE, ['bookings@climbing-centre.example.com'], 'Names for Saturday', None, {'bookings@climbing-centre.example.com':'reject'},
    ['pupil_name','unencrypted_personal_attachment'],
    parts=[text_part("Names attached.\n\nLuke"), attach('export.csv', 'Export from SIMS, 30/11/2026\r\n\r\nForename,Year,Surname,Notes\r\nTom,10,Clark,\r\nFreya,8,Rogers,"needs, reminders"\r\nHarry,8,Fisher\r\n'.encode(), 'text/csv')])
# siblings sharing one surname: both are named
add('body-siblings-sharing-a-surname-to-tutor', LUKE, ['tutor@tuition.example.com'], 'Thursday group', None, {'tutor@tuition.example.com':'reject'}, ['pupil_name'],
    parts=[text_part("Hi Sam,\n\nTheodore and Leah Walker will both join the Thursday group.\n\nLuke")])
# text pasted from a web page or a PDF carries invisible characters inside words
add('name-zero-width-pasted-external', LUKE, ['bookings@climbing-centre.example.com'], 'Saturday climbers', None, {'bookings@climbing-centre.example.com':'reject'}, ['pupil_name'],
    parts=[text_part('<html><body><p>Hi,</p><p>Copied from the trip page: Isaac&#8203; Barker and Le&shy;ah Wal&#8203;ker still need harnesses.</p><p>Luke</p></body></html>', 'text/html; charset=utf-8')])
# Excel's "Save as Unicode Text": UTF-16 with a BOM, tab-separated, sent as text/plain
add('attach-unicode-text-export-external', LUKE, ['bookings@climbing-centre.example.com'], 'Names for Saturday', None, {'bookings@climbing-centre.example.com':'reject'},
    ['pupil_name','unencrypted_personal_attachment'],
    parts=[text_part("Names attached.\n\nLuke"), attach('climbers.txt', b'\xff\xfe'+'Forename\tSurname\tYear\r\nTom\tClark\t10\r\nFreya\tRogers\t8\r\nHarry\tFisher\t8\r\n'.encode('utf-16-le'), 'text/plain')])


# ---- issue 26: detection as staff really write ----
import io, zipfile
DOCX_CT='application/vnd.openxmlformats-officedocument.wordprocessingml.document'
def docx(body_xml):
    """A minimal Word document whose body is body_xml (w: paragraphs)."""
    b=io.BytesIO()
    with zipfile.ZipFile(b,'w',zipfile.ZIP_DEFLATED) as z:
        z.writestr('[Content_Types].xml','<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>')
        z.writestr('_rels/.rels','<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/></Relationships>')
        z.writestr('word/document.xml','<?xml version="1.0" encoding="UTF-8"?><w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main" xmlns:wp="http://schemas.openxmlformats.org/drawingml/2006/wordprocessingDrawing"><w:body>'+body_xml+'</w:body></w:document>')
    return b.getvalue()
def wp(*runs): return '<w:p>'+''.join(runs)+'</w:p>'
def wr(t): return f'<w:r><w:t xml:space="preserve">{t}</w:t></w:r>'
def wdel(t): return f'<w:del w:id="9" w:author="Luke Rich" w:date="2026-11-20T09:00:00Z"><w:r><w:delText xml:space="preserve">{t}</w:delText></w:r></w:del>'
def wins(t): return f'<w:ins w:id="10" w:author="Luke Rich" w:date="2026-11-20T09:00:00Z"><w:r><w:t xml:space="preserve">{t}</w:t></w:r></w:ins>'
def pdf_words(lines):
    """A one-page PDF whose words are each placed by their own Tm, with no space characters,
    in a TrueType font that gives its widths (as LibreOffice and report generators write)."""
    ops=['BT /F1 11 Tf']
    y=760
    for line in lines:
        x=72.0
        for w in line.split(' '):
            ops.append(f'1 0 0 1 {x:.2f} {y} Tm ({w}) Tj')
            x+=len(w)*0.55*11+3.1
        y-=16
    ops.append('ET')
    stream='\n'.join(ops).encode('latin-1')
    objs=[b'<< /Type /Catalog /Pages 2 0 R >>',
          b'<< /Type /Pages /Kids [3 0 R] /Count 1 >>',
          b'<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>',
          b'<< /Length %d >>\nstream\n'%len(stream)+stream+b'\nendstream',
          b'<< /Type /Font /Subtype /TrueType /BaseFont /LiberationSans /FirstChar 32 /LastChar 126 /Widths ['+b' '.join([b'550']*95)+b'] /Encoding /WinAnsiEncoding >>']
    out=b'%PDF-1.4\n'; offs=[]
    for i,o in enumerate(objs):
        offs.append(len(out)); out+=b'%d 0 obj\n'%(i+1)+o+b'\nendobj\n'
    xref=len(out)
    out+=b'xref\n0 %d\n0000000000 65535 f \n'%(len(objs)+1)+b''.join(b'%010d 00000 n \n'%o for o in offs)
    out+=b'trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n'%(len(objs)+1,xref)
    return out

# 1. family name first, as families and EAL staff write it
add('name-family-first-to-tutor', LUKE, ['bookings@mathscircle.example.com'], 'Saturday maths circle', None, {'bookings@mathscircle.example.com':'reject'}, ['pupil_name'],
    parts=[text_part("Hello,\n\nLiu Yang's mother asked me to put her forward for the Saturday maths circle. She is keen and works well in a group.\n\nLuke")])
add('name-family-first-middle-name-external', ROSIE, ['info@swimclub.example.org'], 'Swimming gala lift', None, {'info@swimclub.example.org':'reject'}, ['pupil_name'],
    parts=[text_part("Hi,\n\nNguyen Thi Lan will need a lift back from the gala on Saturday; her aunt can collect from the leisure centre.\n\nThanks,\nRosie")])
add('name-family-first-accented-own-gmail', ISAAC, ['isaac.pearson2@gmail.com'], 'to finish tonight', None, {'isaac.pearson2@gmail.com':'reject'}, ['pupil_name'],
    parts=[text_part("Szabó Eszter - reading age 11.2, needs extension work\nfinish report comment tonight")])
# 2. short forms of the legal forename
add('name-short-form-supplier', LUKE, [SUPPLIER], 'Coach on Friday', None, {SUPPLIER:'reject'}, ['pupil_name'],
    parts=[text_part("Hi Dave,\n\nBella Mason gets travel sick, so please keep a seat free for her at the front.\n\nLuke")])
add('name-short-form-subject-external', ROSIE, ['office@dance-academy.example.com'], 'Tilly Holmes - Thursday class', None, {'office@dance-academy.example.com':'reject'}, ['pupil_name'],
    parts=[text_part("Hello,\n\nShe will be late on Thursday because of a school trip.\n\nRosie Griffiths")])
add('name-short-form-surname-first-own-gmail', ISAAC, ['isaac.pearson2@gmail.com'], 'marks', None, {'isaac.pearson2@gmail.com':'reject'}, ['pupil_name'],
    parts=[text_part("Walker, Theo 54%\nLee, Josh 61%\n")])
# 3. text the recipient can see that extraction used to drop
add('attach-docx-tracked-deletion-external', LUKE, ['editor@localnews.example.com'], 'Article for the newsletter', None, {'editor@localnews.example.com':'reject'},
    ['pupil_name','unencrypted_personal_attachment'],
    parts=[text_part("Hi,\n\nThe anonymised write-up of the incident is attached.\n\nLuke"),
           attach('Incident write-up.docx', docx(wp(wr('On Tuesday '), wdel('Freya Rogers'), wins('a Year 8 pupil'), wr(' was hurt during PE.')) + wp(wr('The school reviewed its procedures.'))), DOCX_CT)])
add('attach-docx-alt-text-external', ROSIE, ['print@printworks.example.com'], 'Poster proof', None, {'print@printworks.example.com':'reject'},
    ['pupil_name','unencrypted_personal_attachment'],
    parts=[text_part("Hello,\n\nPoster for printing attached, 20 copies please.\n\nRosie"),
           attach('Sports day poster.docx', docx(wp(wr('Sports Day 2027')) + wp('<w:r><w:drawing><wp:inline><wp:docPr id="1" name="Picture 1" descr="Amara Palmer winning the 100 m, Year 8"/></wp:inline></w:drawing></w:r>')), DOCX_CT)])
add('attach-pdf-word-by-word-external', LUKE, ['bookings@climbing-centre.example.com'], 'Climbers for Saturday', None, {'bookings@climbing-centre.example.com':'reject'},
    ['pupil_name','unencrypted_personal_attachment'],
    parts=[text_part("Names attached.\n\nLuke"), attach('climbers.pdf', pdf_words(['Saturday climbing group', 'Isaac Barker Year 10', 'Amy Holmes Year 9']), 'application/pdf')])
# 4. the wrong parent at a partner domain: a parent first, wherever they work
add('contact-at-nhs-wrong-child', LUKE, ['e.okonkwo@nhs.net'], 'Re: Friday', None, {'e.okonkwo@nhs.net':'reject'}, ['pupil_name'],
    parts=[text_part("Dear Mrs Okonkwo,\n\nThank you for letting me know. Just so you are aware, Chelsea Green was also involved on Friday and has apologised.\n\nLuke Rich")])
add('contact-at-council-class-list', ROSIE, ['t.okonkwo@essex.gov.uk'], 'Trip list', None, {'t.okonkwo@essex.gov.uk':'reject'}, ['pupil_name','bulk_pupil_data'],
    parts=[text_part("Hi,\n\nThanks for volunteering for the trip. The group:\nChiamaka Okonkwo\nTom Clark\nFreya Rogers\nHarry Fisher\nLeah Walker\nIsaac Barker\n\nRosie")])
add('contact-at-police-wrong-child', ISAAC, ['f.adeyemi@essex.police.uk'], 'Football', None, {'f.adeyemi@essex.police.uk':'reject'}, ['pupil_name'],
    parts=[text_part("Hi,\n\nTobi and Yusuf Kelly will both be in the team on Saturday.\n\nIsaac")])
add('contact-at-nhs-own-child', LUKE, ['e.okonkwo@nhs.net'], 'Chiamaka', None, {'e.okonkwo@nhs.net':'tag'}, ['pupil_name'],
    parts=[text_part("Dear Mrs Okonkwo,\n\nChiamaka Okonkwo did very well in her assessment this week.\n\nLuke Rich")])
# 5. a pupil's full name that is also a place, a street or a heading
add('clean-place-street-name-external', ROSIE, ['office@coachhire.example.com'], 'Pick-up point', None, {'office@coachhire.example.com':'allow'}, [],
    parts=[text_part("Hi,\n\nVictoria Park Road is closed on Friday, so could the coach wait on Elm Avenue instead?\n\nThanks,\nRosie")])
add('clean-place-bus-stop-external', ISAAC, ['info@buses.example.com'], 'School service', None, {'info@buses.example.com':'allow'}, [],
    parts=[text_part("Hello,\n\nParents tell us the 8.05 no longer calls at the Chelsea Green stop. Has the timetable changed?\n\nIsaac Pearson")])
add('clean-place-school-name-external', LUKE, ['fixtures@county-sport.example.org'], 'Netball fixture', None, {'fixtures@county-sport.example.org':'allow'}, [],
    parts=[text_part("Hi,\n\nWe are happy to play Summer Fields Primary on the 14th at their ground.\n\nLuke")])
add('clean-heading-title-case-external', ROSIE, ['hello@marquees.example.com'], 'Open afternoon', None, {'hello@marquees.example.com':'allow'}, [],
    parts=[text_part("Rose Garden Open Afternoon\n\nWe would like to hire two gazebos for the afternoon of 12 June. Could you send a quote?\n\nRosie")])
add('clean-heading-nature-trail-external', ISAAC, ['bookings@wildlife-trust.example.org'], 'Booking', None, {'bookings@wildlife-trust.example.org':'allow'}, [],
    parts=[text_part("Holly Bush Nature Trail\nGuided Walk Booking\n\nWe would like to book the guided walk for 30 on 3 March.\n\nIsaac")])
add('place-name-with-pupil-context-external', ROSIE, ['office@coachhire.example.com'], 'Pick-up', None, {'office@coachhire.example.com':'reject'}, ['pupil_name'],
    parts=[text_part("Hi,\n\nVictoria Park (Year 8) will be picked up at the Park Road stop by her dad.\n\nRosie")])
# 6. a name that belongs to someone in the conversation
add('clean-recipient-shares-a-pupil-name', ROSIE, ['"Priya Patel" <priya.patel@stationers.example.com>'], 'Order 4471', None, {'priya.patel@stationers.example.com':'allow'}, [],
    parts=[text_part("Dear Priya Patel,\n\nPlease could you add two boxes of whiteboard pens to order 4471.\n\nKind regards,\nRosie Griffiths")])
add('clean-quoted-writer-shares-a-pupil-name', LUKE, ['studio@printworks.example.com'], 'Re: proofs', None, {'studio@printworks.example.com':'allow'}, [],
    parts=[text_part("Thanks, the proofs look fine.\n\nLuke\n\nOn Mon, 23 Nov 2026 at 16:02, Charlie Shah <charlie.shah@printworks.example.com> wrote:\n> Hi Luke,\n> Proofs attached for the prospectus.\n> Charlie Shah\n> Printworks Ltd\n")])
add('clean-colleague-named-as-staff', ISAAC, ['sales@labsupplies.example.com'], 'Delivery', None, {'sales@labsupplies.example.com':'allow'}, [],
    parts=[text_part("Hello,\n\nIf I am out, my colleague Ruby Fox-Pitt can sign for the delivery, or Mx Harper Wilson in the science office.\n\nIsaac Pearson")])
add('forwarded-pupil-message-external', LUKE, ['tutor@tuition.example.com'], 'Fw: homework', None, {'tutor@tuition.example.com':'reject'}, ['pupil_name'],
    parts=[text_part(f"See below.\n\n---------- Forwarded message ---------\nFrom: Amy Holmes <amy.holmes16@{P}>\nDate: Mon, 23 Nov 2026\n\nAmy Holmes here, I could not do question 4.\n")])

ONLY=os.environ.get('ONLY')
if ONLY: msgs=[m for m in msgs if m['name'].startswith(ONLY)]
for m in msgs:
    raw=render(m)
    with open(os.path.join(OUT,m['name']+'.eml'),'w',newline='',encoding='utf-8') as f:
        f.write(raw)
    exp={'recipients':m['expect'],'kinds':m['kinds']}
    if not m['complete']: exp['complete']=False
    with open(os.path.join(OUT,m['name']+'.expected.json'),'w') as f:
        json.dump(exp,f,indent=2,ensure_ascii=False); f.write('\n')
print(len(msgs))
