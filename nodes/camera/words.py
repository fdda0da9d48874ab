"""Common English words printed by the synthetic pattern scene.

Embedded rather than read from a file so the scene needs nothing on disk. Lower case,
3 to 8 letters: long enough that a recognised word is unambiguous, short enough that two
fit side by side at a large font size.
"""

WORDS = tuple("""
able about above across act add after again age ago agree air all allow almost alone
along already also always among and animal answer any appear apple area arm army around
art ask away baby back bad ball bank base bear beat become bed before begin behind
believe best better big bird black blood blue board boat body book born both box boy
bread break bring brother brown build burn busy buy call camp can capital car card care
carry case cat catch cause cell center chair chance change chart check child city class
clean clear climb clock close cloud coast cold color come common copy corn cost could
count country course cover cow cross crowd cry cup current cut dance dark day dead deal
dear death decide deep desert design dog dollar door double down draw dream dress drink
drive drop dry during each early earth east eat edge egg eight energy enough enter equal
even event ever every exact except eye face fact fair fall family far farm fast father
feel few field fight figure fill final find fine finger fire first fish five floor flow
flower fly follow food foot force forest form forward found four free fresh friend front
fruit full game garden gas gather gentle girl give glad glass gold good govern grass
great green ground group grow guess guide half hand happen happy hard hat have head hear
heart heat heavy help here high hill history hold home hope horse hot hour house huge
human hunt hurry idea inch island join joy jump just keep kind king kitchen knew know
lake land large last late laugh lead learn least leave left leg letter level life light
like line list listen little live long look lost loud love low machine main major make
many map mark market master matter mean measure meet metal middle might milk mind minute
miss modern moment money month moon more morning most mother motion mount mouth move much
music name nation nature near need never new next night noise north note notice noun
number ocean offer office often old open order other our over own page paint paper part
party pass path pay people period person picture piece place plain plan plant play point
poor port position power press pretty print problem pull push put queen quick quiet race
radio rain raise reach read ready real reason record red region remember rest rich ride
right river road rock room rope round row rule run safe sail salt same sand save say
school science score sea season seat second seed seven shape share sharp ship shop short
should show side sign silver simple since sing sister sit six size skill skin sky sleep
small smell smile snow soft soil soldier solve song soon sound south space speak special
speed spell spend spring square stand star start state station stay steam steel step
stick still stone stop store story straight strange stream street strong student study
style sugar summer sun supply sure surface swim system table tail take talk tall teach
team teeth tell ten test thank thick thin thing third three throw tiny today together
told tone took tool total touch toward town track trade train travel tree trip trouble
true try turn twenty type under unit until upon use usual valley value very view village
visit voice wait walk wall want warm wash watch water wave wear weather week weight west
wheel where while white whole wide wife wild will wind window winter wire wish woman
wonder wood word work world write yard year yellow young
""".split())
