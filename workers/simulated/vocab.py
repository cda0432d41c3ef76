"""Word lists the synthetic LM composes its instructions and instances from (data only, no logic).

Lists are long on purpose: Self-Instruct keeps an instruction only if its ROUGE-L
against every kept one is below 0.7, so the slot vocabularies must be large for
thousands of generated instructions to survive.
"""

from __future__ import annotations


def _split(text: str) -> tuple[str, ...]:
    return tuple(w.strip() for w in text.split("|") if w.strip())


TOPICS = _split("""
climate change|the French Revolution|photosynthesis|remote work|electric cars|sleep hygiene|urban gardening|
cryptocurrency|the water cycle|volcanoes|machine learning|public transportation|meditation|renewable energy|
the Roman Empire|social media|healthy eating|personal finance|time management|space exploration|ocean pollution|
black holes|the stock market|vaccines|recycling|coffee culture|jazz music|chess openings|marathon training|
online privacy|honeybees|the printing press|quantum computing|desert ecosystems|minimalism|the Olympic Games|
volunteering|plate tectonics|the human immune system|ancient Egypt|street food|video game design|coral reefs|
sustainable fashion|the Industrial Revolution|artificial sweeteners|bird migration|the Silk Road|solar panels|
procrastination|tea ceremonies|the Great Depression|rainforests|3D printing|microplastics|folk tales|
the Moon landing|composting|public libraries|homeschooling|electric guitars|Antarctica|the Renaissance|
cloud computing|yoga|fermentation|the gig economy|mountain climbing|wildfires|bicycles|the immune response|
shipping containers|language learning|noise pollution|the Cold War|dinosaurs|wind turbines|board games|
origami|carbon taxes|bread baking|the Amazon river|sign language|podcasts|nuclear fusion|impressionist painting|
mental health at work|endangered species|city planning|table manners|vertical farming|the periodic table|
first aid|online dating|wolves|the Great Barrier Reef|budget travel|tiny houses|the human brain|
electric scooters|standardized testing|cybersecurity|the Byzantine Empire|hiking safety|sourdough|hurricanes|
self-driving cars|open source software|the history of jazz|pet adoption|blockchain|desalination|glaciers|
ancient Greek theater|electric grids|loneliness|the Mars rovers|spices|typewriters|lighthouses|beekeeping|
inflation|the metric system|handwriting|museums|tides|caffeine|penguins|sunscreen|the Internet of Things|
running shoes|the Mediterranean diet|cooperative games|comets|clean water access|robot vacuums|opera|
the Harlem Renaissance|saltwater aquariums|zero-waste living|earthquakes|kombucha|paper money|the Apollo program
""")

AUDIENCES = _split("""
a five-year-old|a high school student|a busy parent|a software engineer|a retired teacher|a first-time home buyer|
a non-native English speaker|your manager|a skeptical investor|a new employee|a group of tourists|a college freshman|
a small business owner|a nurse working night shifts|a professional chef|a beginner photographer|a history buff|
a ten-year-old who loves science|an elderly neighbor|a job interviewer|a city council|a room full of engineers|
a friend who is feeling down|a graduate student|a farmer|a visiting alien|a medieval knight|a museum visitor
""")

GENRES = _split("""
poem|haiku|short story|limerick|blog post|product description|cover letter|tweet|slogan|speech|news headline|
dialogue|riddle|song chorus|movie plot|book review|motivational quote|thank-you note|job posting|press release|
fairy tale|sonnet|diary entry|podcast intro|toast|advertisement|eulogy|rap verse|fable|letter to the editor|
travel guide entry|mystery opening paragraph|bedtime story|newsletter blurb|restaurant review|wedding vow
""")

TONES = _split("""
humorous|formal|persuasive|optimistic|sarcastic|poetic|concise|friendly|professional|dramatic|nostalgic|
suspenseful|whimsical|heartfelt|neutral|enthusiastic|melancholic|playful|serious|inspiring|mysterious|casual
""")

ACTIVITIES = _split("""
learning a new language|saving money on groceries|staying focused while studying|running a first marathon|
keeping houseplants alive|preparing for a job interview|reducing screen time|starting a podcast|
making friends in a new city|writing a novel|training a puppy|packing for a long flight|cooking for a large family|
negotiating a salary|improving handwriting|speaking in public|organizing a small closet|planning a surprise party|
learning to play the piano|waking up early|decluttering a garage|traveling with toddlers|building a budget|
growing tomatoes on a balcony|studying for a math exam|choosing a laptop|caring for an aging parent|
running effective meetings|staying safe while hiking alone|taking better smartphone photos|reading more books|
learning to swim as an adult|moving to another country|starting a small online shop|brewing coffee at home|
recovering from a cold|writing clear emails|managing a remote team|teaching kids about money|camping in the rain
""")

ASPECTS = _split("""
advantages|drawbacks|main causes|long-term consequences|biggest risks|health benefits|common misconceptions|
ethical concerns|economic effects|environmental impacts|key milestones|most important lessons|practical uses|
hidden costs|cultural significance|open research questions
""")

THINGS = _split("""
foods that are rich in iron|countries that border Germany|animals that hibernate|inventions of the nineteenth century|
words that rhyme with light|cities known for their bridges|jobs that did not exist twenty years ago|
ways to reuse glass jars|musical instruments from Africa|habits of successful students|plants that grow in shade|
questions to ask a landlord|signs of dehydration|board games for two players|elements that are gases at room temperature|
famous female scientists|sports played without a ball|careers that involve travel|fruits that are high in vitamin C|
mistakes new drivers make|rivers in South America|hobbies that cost almost nothing|things to check before buying a used car|
reasons people learn to knit|ingredients for a vegetarian lasagna|symptoms of burnout|polite ways to decline an invitation
""")

PLACES = _split("""
Lisbon|Kyoto|the Scottish Highlands|Cape Town|Patagonia|Iceland|New Orleans|Marrakech|Vancouver|the Amalfi Coast|
Hanoi|Prague|a small fishing village|Yellowstone|Istanbul|the Swiss Alps|Mexico City|Seoul|Tasmania|Buenos Aires
""")

ROLES = _split("""
a data analyst|a kindergarten teacher|a barista|a project manager|a nurse|a graphic designer|a customer support agent|
a park ranger|a pharmacist|a journalist|an electrician|a museum curator|a flight attendant|a librarian|a chef
""")

CODE_TASKS = _split("""
checks whether a string is a palindrome|returns the n-th Fibonacci number|counts the vowels in a sentence|
merges two sorted lists|removes duplicate values from a list while keeping order|converts Celsius to Fahrenheit|
finds the second largest number in a list|reverses the words in a sentence|checks whether a year is a leap year|
computes the greatest common divisor of two integers|flattens a nested list|validates an email address|
groups words that are anagrams of each other|returns the most frequent character in a string|
rotates a matrix by ninety degrees|counts the words in a paragraph|checks whether two strings are anagrams|
finds all prime numbers below a given limit|capitalizes the first letter of every word|computes the median of a list
""")

LANGUAGES = _split("French|Spanish|German|Italian|Portuguese|Japanese|Swahili|Dutch|Korean|Turkish")

TEXT_TYPES = _split("""
paragraph|news article|product review|email|short story|tweet|recipe|cover letter|movie review|speech|
restaurant review|blog post|poem|text message|customer complaint|scientific abstract|job description|essay
""")

INPUT_ACTIONS = _split("""
identify its main argument|extract the names of all people mentioned|suggest a better title|list the key facts it states|
find the spelling mistakes|rewrite it in the passive voice|shorten it to a single sentence|explain it to a child|
point out any claims that need a source|turn it into a list of bullet points|write a reply to it|
count how many sentences it has|find the words that appear most often|summarize it in one line|
rewrite it without using the letter e|make it sound more polite|highlight the most surprising detail
""")

STYLES = _split("""
more formal|more concise|sound friendlier|easier for a child to understand|more persuasive|more polite|
less repetitive|sound like a pirate|more exciting|gender-neutral|suitable for a business report|more vivid
""")

NUMBER_WORDS = ("two", "three", "four", "five", "six", "seven", "eight", "ten")

LABEL_SETS = (
    ("positive", "negative", "neutral"), ("positive", "negative"), ("spam", "not spam"), ("true", "false"),
    ("fact", "opinion"), ("formal", "informal"), ("question", "command", "statement"), ("urgent", "not urgent"),
    ("sports", "politics", "technology", "entertainment"), ("fruit", "vegetable", "grain"),
    ("mammal", "bird", "reptile", "fish"), ("agree", "disagree", "neutral"), ("sarcastic", "sincere"),
    ("beginner", "intermediate", "advanced"), ("safe", "unsafe"), ("relevant", "irrelevant"),
    ("happy", "sad", "angry", "surprised"), ("offensive", "not offensive"), ("cause", "effect"),
    ("healthy", "unhealthy"), ("past", "present", "future"), ("noun", "verb", "adjective"),
)

CLASSIFIED_ITEMS = _split("""
movie review|tweet|customer email|news headline|product description|restaurant review|text message|
sentence|forum post|book blurb|job advertisement|comment on a video|recipe title|short paragraph|support ticket
""")

OPENERS = ("Please ", "Can you ", "I would like you to ", "Your task is to ", "In this task, you need to ",
           "Help me ", "Could you ", "Try to ")

SUFFIXES = (
    " Keep it under {n} words.", " Use simple language.", " Explain your answer.", " Include at least one example.",
    " Format the answer as a bulleted list.", " Avoid technical jargon.", " Make each point different.",
    " Be specific.", " Mention one surprising fact.", " Justify each choice briefly.",
    " Start with the most important point.", " End with a question for the reader.",
)

# Words the pipeline's filter rejects; the LM uses them on purpose now and then.
BLACKLISTED_TASKS = (
    "Draw a picture of {topic}.", "Plot a graph showing how {topic} changed over time.",
    "Describe the image below in detail.", "Create a map of {place} with the main attractions.",
    "Open the attached file and count how often {topic} is mentioned.", "Go to the website and find the price of {thing}.",
    "Make a graph comparing {topic} and {topic2}.", "Look at the picture and describe what {audience} is doing.",
)

SHORT_TASKS = ("Tell a joke.", "Summarize this.", "Name three fruits.", "Be creative.", "Explain gravity.",
               "Write something.", "Count to ten.", "Define love.")

BAD_START_TASKS = ("- List {n} facts about {topic}.", "\"Explain {topic} to {audience}.\"",
                   "¿Qué sabes sobre {topic}?", "Écrivez un poème sur {topic}.", "(Optional) Describe {topic}.",
                   "* Give {n} tips for {activity}.", "…and then explain {topic}.")

FILLER = _split("""
and also|which is interesting because|but on the other hand|and in addition to that|as well as|
while keeping in mind|not to mention|and furthermore|together with
""")
